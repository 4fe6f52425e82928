"""Progress of a batch of episodes: a rich bar on a terminal, plain log lines everywhere else.

Every command that plays episodes (``agentgym eval``, ``agentgym collect``, the rollout stages of
``agentgym evol``) reports through `RolloutProgress`, so they behave the same way.

Why two modes: a rich progress bar redraws one line in place. That is right on a terminal, but
with stdout redirected (``nohup``, tmux logging, Slurm, CI) rich draws nothing until the bar
stops, so a long evaluation writes nothing for many minutes and looks hung. When the output
stream is not a TTY we therefore print plain, self-contained lines instead - one when the batch
starts, one every ``every_s`` seconds (also while no episode finishes, so a quiet log still says
the run is alive), and one at the end::

    [eval expert] 200 episodes to play (37 already done in the run folder)
    [eval expert] 58/200 episodes (29.0%) | success 62.1% | errors 1 | 0.35 episodes/s | elapsed 1m00s | ETA 6m43s
    [eval expert] finished: 200/200 episodes | success 61.0% | errors 1 | 0.36 episodes/s | elapsed 7m45s

The rate and ETA count only the episodes played by this process (episodes resumed from a run
folder took no time now); the success rate counts every finished episode. Lines are flushed at
once: a redirected stdout is block-buffered, and a line stuck in a buffer is no progress report.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from agentgym.core.types import Trajectory
    from agentgym.rollout.runner import EpisodeItem
    from agentgym.rollout.store import RunStore

DEFAULT_EVERY_S = 30.0
"""Seconds between two plain progress lines (``--progress-every``)."""

PROGRESS_HELP = "Report progress: a bar on a terminal, plain lines when stdout is a file or pipe."
PROGRESS_EVERY_HELP = (
    "Seconds between two plain progress lines when stdout is not a terminal (0: a line after every episode)."
)

Mode = Literal["off", "rich", "lines"]


@dataclass(frozen=True)
class ProgressOptions:
    """How a command reports rollout progress: on/off, and the interval of the plain lines."""

    show: bool = True
    every_s: float = DEFAULT_EVERY_S


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``"1m15s"``; ``3700`` -> ``"1h01m40s"`` (short, unambiguous in a log line)."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


class RolloutProgress:
    """Counts finished episodes and reports them; pass `episode` as the runner's ``on_episode``.

    Use as a context manager around `agentgym.rollout.runner.run_episodes`. ``done``,
    ``successes`` and ``errors`` are the episodes already finished before this batch (resumed
    from a run folder); `for_items` computes them from a `RunStore` the way the runner does.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        done: int = 0,
        successes: int = 0,
        errors: int = 0,
        options: ProgressOptions | None = None,
        stream: IO[str] | None = None,
        transient: bool = False,
    ) -> None:
        self.label = label
        self.total = total
        self.done = done
        self.successes = successes
        self.errors = errors
        self.resumed = done
        self.options = options or ProgressOptions()
        self.stream = stream if stream is not None else sys.stdout
        self.transient = transient
        self.mode: Mode = "off"
        if self.options.show:
            self.mode = "rich" if _is_tty(self.stream) else "lines"
        self._t0 = time.monotonic()
        self._last_line = self._t0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    @classmethod
    def for_items(
        cls,
        label: str,
        items: Iterable[EpisodeItem],
        store: RunStore | None,
        *,
        options: ProgressOptions | None = None,
        stream: IO[str] | None = None,
        transient: bool = False,
    ) -> RolloutProgress:
        """A progress for playing ``items``: the total counts each distinct item once (as the runner
        plays it once), and episodes already final in ``store`` start as done - those that ended
        in an error do not, since the runner plays them again."""
        keys = list(dict.fromkeys(it.key for it in items))
        stored = []
        if store is not None:
            for key in keys:
                if store.is_done(key):
                    traj = store.get(key)
                    if traj is not None:
                        stored.append(traj)
        return cls(
            label,
            len(keys),
            done=len(stored),
            successes=sum(t.success for t in stored),
            errors=sum(t.stop == "error" for t in stored),
            options=options,
            stream=stream,
            transient=transient,
        )

    # ------------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> RolloutProgress:
        self._t0 = self._last_line = time.monotonic()
        if self.mode == "rich":
            self._start_bar()
        elif self.mode == "lines":
            todo = self.total - self.done
            before = f" ({self.done} already done in the run folder)" if self.done else ""
            self._emit(f"[{self.label}] {todo} episodes to play{before}")
            if self.options.every_s > 0:
                self._ticker = threading.Thread(target=self._tick, name="rollout-progress", daemon=True)
                self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.mode == "rich" and self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
        elif self.mode == "lines":
            word = "finished" if exc_type is None else "stopped"
            self._emit(f"[{self.label}] {word}: {self._summary(eta=False)}")

    def episode(self, traj: Trajectory) -> None:
        """Count one finished episode (the runner's ``on_episode`` callback)."""
        with self._lock:
            self.done += 1
            self.successes += int(traj.success)
            self.errors += int(traj.stop == "error")
        if self.mode == "rich" and self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done, **self._fields())
        elif self.mode == "lines" and time.monotonic() - self._last_line >= self.options.every_s:
            self._emit(f"[{self.label}] {self._summary(eta=True)}")

    # ---------------------------------------------------------------------------------- output
    def _summary(self, *, eta: bool) -> str:
        """``58/200 episodes (29.0%) | success 62.1% | errors 1 | 0.35 episodes/s | ... | ETA 6m43s``."""
        with self._lock:
            done, succ, err = self.done, self.successes, self.errors
        elapsed = time.monotonic() - self._t0
        played = done - self.resumed
        share = f" ({100 * done / self.total:.1f}%)" if self.total else ""
        parts = [f"{done}/{self.total} episodes{share}"]
        parts.append(f"success {100 * succ / done:.1f}%" if done else "success -")
        if err:
            parts.append(f"errors {err}")
        rate = played / elapsed if elapsed > 0 else 0.0
        parts.append(f"{rate:.2f} episodes/s" if played else "no episode finished yet")
        parts.append(f"elapsed {format_duration(elapsed)}")
        if eta and played and done < self.total:
            parts.append(f"ETA {format_duration((self.total - done) / rate)}")
        return " | ".join(parts)

    def _emit(self, line: str) -> None:
        with self._lock:
            self._last_line = time.monotonic()
        print(line, file=self.stream, flush=True)

    def _tick(self) -> None:
        """Background heartbeat: a line whenever ``every_s`` passed without one (episodes can take
        minutes each; the log must still show the run is alive)."""
        every = self.options.every_s
        wait = every
        while not self._stop.wait(wait):
            since = time.monotonic() - self._last_line
            if since >= every:
                self._emit(f"[{self.label}] {self._summary(eta=True)}")
                wait = every
            else:
                wait = every - since

    def _fields(self) -> dict[str, Any]:  # Any: rich's update/add_task type their own keywords
        rate = f"success {100 * self.successes / self.done:5.1f}%" if self.done else "success     -"
        return {"succ": rate, "err": f"errors {self.errors}" if self.errors else ""}

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[succ]}"),
            TextColumn("[red]{task.fields[err]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=self.transient,
        )
        bar.__enter__()
        self._task = bar.add_task(self.label, total=self.total, completed=self.done, **self._fields())
        self._bar = bar


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # a closed stream
        return False
