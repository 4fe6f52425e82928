"""ScienceWorld simulators that share JVMs.

Why: `scienceworld.ScienceWorldEnv()` launches one JVM per instance (the original AgentGym server
did that per session: ~785 MB each). The Scala side is one `PythonInterface` object per simulator
and its singletons hold no mutable state, so many `PythonInterface` objects can live in one JVM
behind one py4j gateway - except for one JVM-global object counter, which `_Guarded` keeps per
simulator (calls into one JVM are serialised for that; parallelism comes from several JVMs).

A `SimulatorPool` starts JVMs lazily, puts up to ``sims_per_jvm`` simulators on each, and hands
them out with `acquire` / `release` (released simulators are reused: `load` rebuilds the world).
`shared_pool()` is the process-wide pool every `SciWorldEnv` uses unless given its own.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SIMS_PER_JVM = int(os.environ.get("AGENTGYM_SCIWORLD_SIMS_PER_JVM", "16"))
DEFAULT_HEAP = os.environ.get("AGENTGYM_SCIWORLD_JVM_HEAP", "2g")
DETERMINISTIC = os.environ.get("AGENTGYM_SCIWORLD_DETERMINISTIC", "1") != "0"
JVM_DETERMINISM_OPTS = ["-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2"] if DETERMINISTIC else []
"""ScienceWorld keeps objects in identity-hashed sets, and HotSpot draws identity hashes from a
per-thread random stream, so object order - in room descriptions, in which object an ambiguous name
picks, and so in scores (a gold path replayed on another simulator scored 78 instead of 100) -
changed from run to run. A constant identity hash makes every simulator in every JVM behave the
same for the same task; it costs ~1.5-2x per step (hash sets degrade to lists). Set
``AGENTGYM_SCIWORLD_DETERMINISTIC=0`` to trade determinism for speed (then expert plans cached on
disk may no longer replay)."""


@dataclass(eq=False)
class _Jvm:
    """One JVM process with its py4j gateway, and the lock that serialises its simulators."""

    gateway: Any
    process: Any
    sims: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    owner: _Guarded | None = None  # the simulator whose object-id counter is loaded

    @property
    def pid(self) -> int:
        return int(self.process.pid)


class _Guarded:
    """A `PythonInterface` proxy that makes simulators sharing a JVM independent.

    ScienceWorld numbers every object from one JVM-global counter (``util.UniqueIdentifier``),
    reset on each ``load``, and objects compare by that number. Simulators used concurrently in
    one JVM would reset and advance each other's counter: object order changes, and a new object
    (steam, a mixture, a seed) can take the number of an existing one. So each simulator keeps its
    own counter value, swapped into the JVM when another simulator ran last, and calls into one
    JVM are serialised (run several JVMs for parallelism)."""

    __slots__ = ("_server", "_jvm", "_count")

    def __init__(self, server: Any, jvm: _Jvm) -> None:
        self._server, self._jvm, self._count = server, jvm, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._server, name)

        def call(*args: Any) -> Any:
            jvm = self._jvm
            with jvm.lock:
                if jvm.owner is not self:
                    counter = jvm.gateway.jvm.util.UniqueIdentifier
                    if jvm.owner is not None:
                        jvm.owner._count = counter.count()
                    getattr(counter, "count_$eq")(self._count)
                    jvm.owner = self
                return method(*args)

        return call


@dataclass(eq=False)
class Simulator:
    """A handle on one ScienceWorld simulator (a Scala `PythonInterface`) inside a shared JVM;
    ``server`` is the guarded proxy every call goes through."""

    server: Any
    jvm: _Jvm = field(repr=False)


class SimulatorPool:
    """Hands out ScienceWorld simulators, ``sims_per_jvm`` to a JVM; thread-safe."""

    def __init__(self, sims_per_jvm: int = DEFAULT_SIMS_PER_JVM, heap: str = DEFAULT_HEAP) -> None:
        if sims_per_jvm < 1:
            raise ValueError("sims_per_jvm must be >= 1")
        self.sims_per_jvm = sims_per_jvm
        self.heap = heap
        self._lock = threading.Lock()
        self._jvms: list[_Jvm] = []
        self._free: list[Simulator] = []
        self._closed = False

    # ------------------------------------------------------------------ public
    def acquire(self) -> Simulator:
        """A simulator for one session (a free one if any, else a new one)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the ScienceWorld simulator pool is closed")
            if self._free:
                return self._free.pop()
            jvm = next((j for j in self._jvms if j.sims < self.sims_per_jvm), None)
            if jvm is None:
                jvm = self._launch()
                self._jvms.append(jvm)
            jvm.sims += 1
        try:
            with jvm.lock:
                server = jvm.gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface()
        except Exception:
            with self._lock:
                jvm.sims -= 1
            raise
        return Simulator(_Guarded(server, jvm), jvm)

    def release(self, sim: Simulator) -> None:
        """Give a simulator back; the next `acquire` reuses it."""
        with self._lock:
            if not self._closed:
                self._free.append(sim)

    def stats(self) -> dict[str, Any]:
        """JVM count, simulators per JVM and the JVM pids (for /health and benchmarks)."""
        with self._lock:
            return {
                "jvms": len(self._jvms),
                "simulators": sum(j.sims for j in self._jvms),
                "free": len(self._free),
                "pids": [j.pid for j in self._jvms],
            }

    def close(self) -> None:
        """Shut every JVM down (sessions still holding simulators will fail)."""
        with self._lock:
            self._closed = True
            jvms, self._jvms, self._free = self._jvms, [], []
        for jvm in jvms:
            _shutdown(jvm)

    # ----------------------------------------------------------------- private
    def _launch(self) -> _Jvm:
        from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
        from scienceworld.constants import BASEPATH, JAR_PATH

        # die_on_exit: the JVM exits when this Python process does, even on a crash.
        port, proc = launch_gateway(
            classpath=JAR_PATH,
            die_on_exit=True,
            cwd=BASEPATH,
            return_proc=True,
            javaopts=[f"-Xmx{self.heap}", "-XX:+UseSerialGC", "-Xss4m", *JVM_DETERMINISM_OPTS],
        )
        gateway = JavaGateway(
            gateway_parameters=GatewayParameters(auto_field=True, port=port), java_process=proc
        )
        return _Jvm(gateway, proc)


def _shutdown(jvm: _Jvm) -> None:
    try:
        jvm.gateway.shutdown()
    except Exception:
        pass
    proc = jvm.process
    if proc.poll() is None:  # die_on_exit: a newline on stdin makes the JVM exit
        try:
            proc.stdin.write(b"\n")
            proc.stdin.flush()
            proc.wait(timeout=5)
        except Exception:
            proc.kill()


_shared: SimulatorPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> SimulatorPool:
    """The process-wide pool (created on first use, closed at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SimulatorPool()
            atexit.register(_shared.close)
        return _shared
