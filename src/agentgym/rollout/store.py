"""A run folder on disk: the append-only, crash-safe record of finished episodes.

Layout::

    RUN_DIR/
      trajectories.jsonl   one `Trajectory` per line, in finishing order (append-only)
      .lock                held (flock) by the one process writing the run

Why it survives ``kill -9``: each episode is written as a single line, flushed and ``fsync``ed
before the runner moves on, so a killed run loses at most the line being written. On open, the
file is read back; a torn last line (no newline, or not valid JSON) is cut away, and the keys
``item_id#sample`` of the finished episodes tell the runner what to skip. A restarted run
therefore ends with every item exactly once. Damage anywhere but the last line is not something
a kill can cause, so it is reported instead of silently dropped.

Episodes that ended with ``stop: "error"`` (a server died, a backend failed) are recorded too, but
they are not final: a resumed run plays them again and appends the new episode, which supersedes
the error line for that key (`latest`). Every reader goes through the same rule, so a key never
counts twice.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from agentgym.core.types import Trajectory
from agentgym.data.trajfile import CorruptFile, encode_line, parse_lines

TRAJECTORIES = "trajectories.jsonl"

CorruptRun = CorruptFile
"""A line other than the last one cannot be read: the file was edited or damaged."""


class RunLocked(RuntimeError):
    """Another live process is writing this run folder."""


def _parse_lines(data: bytes, path: Path) -> tuple[list[Trajectory], int]:
    """Trajectories in ``data`` and the byte length of its intact prefix (torn tail excluded)."""
    return parse_lines(data, path, Trajectory.model_validate, torn_tail=True, what="a trajectory")


def latest(trajs: list[Trajectory]) -> dict[str, Trajectory]:
    """One trajectory per key: the first final one, else the last error (retries supersede errors)."""
    by_key: dict[str, Trajectory] = {}
    for t in trajs:
        old = by_key.get(t.key)
        if old is None or old.stop == "error":
            by_key[t.key] = t
    return by_key


def read_trajectories(path: str | Path) -> list[Trajectory]:
    """Read a ``trajectories.jsonl`` (or a run folder) without locking or repairing it; one per key."""
    path = Path(path)
    if path.is_dir():
        path = path / TRAJECTORIES
    if not path.exists():
        raise FileNotFoundError(f"no trajectories at {path}; is this an agentgym run folder?")
    return list(latest(_parse_lines(path.read_bytes(), path)[0]).values())


class RunStore:
    """The trajectories of one run folder; ``add`` appends durably, ``in`` asks what is done.

    Open it as a context manager (or call `close`): it holds an exclusive lock on the folder so
    two processes never interleave writes; the OS releases the lock if the process dies.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / TRAJECTORIES
        self._lock = open(self.dir / ".lock", "a+")  # held for the store's lifetime
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise RunLocked(
                f"{self.dir} is being written by another process; wait for it or pick another --out"
            ) from None
        self._by_key: dict[str, Trajectory] = {}
        self.repaired_bytes = 0
        self._load()
        self._fh = open(self.path, "ab")
        self._write_lock = threading.Lock()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        trajs, good = _parse_lines(data, self.path)
        if good < len(data):  # a kill left half a line: cut it so the next append starts clean
            self.repaired_bytes = len(data) - good
            with open(self.path, "r+b") as fh:
                fh.truncate(good)
                fh.flush()
                os.fsync(fh.fileno())
        self._by_key = latest(trajs)

    # ------------------------------------------------------------------ queries
    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(list(self._by_key.values()))

    def get(self, key: str) -> Trajectory | None:
        return self._by_key.get(key)

    @property
    def keys(self) -> set[str]:
        return set(self._by_key)

    def trajectories(self) -> list[Trajectory]:
        return list(self._by_key.values())

    # ------------------------------------------------------------------- writes
    def is_done(self, key: str) -> bool:
        """Whether ``key`` has a final episode (one that did not end in an error)."""
        t = self._by_key.get(key)
        return t is not None and t.stop != "error"

    def add(self, traj: Trajectory) -> bool:
        """Append ``traj`` durably; returns False (and writes nothing) if its key is already done."""
        return self.add_many([traj])[0]

    def add_many(self, trajs: list[Trajectory]) -> list[bool]:
        """Append several episodes with one write and one ``fsync`` (group commit).

        Thread-safe, so the runner can sync in a worker thread while episodes go on; each line is
        complete (newline-terminated) and durable before this returns. Returns, per trajectory,
        whether it was written (False: its key was already done, or done earlier in this batch).
        """
        with self._write_lock:
            if self._fh.closed:
                raise ValueError(f"the run store {self.dir} is closed")
            written: list[bool] = []
            lines: list[bytes] = []
            batch: dict[str, Trajectory] = {}
            for t in trajs:
                prev = batch.get(t.key) or self._by_key.get(t.key)
                ok = prev is None or prev.stop == "error"
                if ok:
                    lines.append(encode_line(t.dump()))
                    batch[t.key] = t
                written.append(ok)
            if lines:
                self._fh.write(b"".join(lines))
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._by_key.update(batch)  # only once durable
            return written

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if not self._lock.closed:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RunStore {self.dir} episodes={len(self)}>"
