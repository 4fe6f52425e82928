"""Stage markers: what a long run has finished, written atomically so a killed run resumes cleanly.

A stage is done exactly when ``RUN/stages/<name>.json`` exists. The marker is written to a temp
file, fsynced and renamed into place (``os.replace`` is atomic on POSIX), so a kill leaves either no
marker (the stage runs again, after its partial output is cleared) or a complete one (the stage is
skipped and its recorded result reused). Markers carry the pid and time of the process that
finished the stage, which is how tests see that a resumed run did not redo earlier work.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.data.trajfile import write_atomic


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written atomically (`agentgym.data.trajfile.write_atomic`)."""
    write_atomic(path, json.dumps(data, indent=2, default=str).encode())


class Stages:
    """The stage markers of one run folder."""

    def __init__(self, run_dir: Path, log: Callable[[str], None] | None = None) -> None:
        self.dir = Path(run_dir) / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = log or (lambda _msg: None)

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def get(self, name: str) -> dict[str, Any] | None:
        p = self.path(name)
        return json.loads(p.read_text()) if p.exists() else None

    def done(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def run(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``fn()``'s result for stage ``name``: recorded on first completion, reused afterwards."""
        marker = self.get(name)
        if marker is not None:
            self.log(f"[dim]stage {name}: done earlier, skipped[/dim]")
            return marker["result"]
        self.log(f"stage {name} ...")
        t0 = time.time()
        result = fn()
        write_json_atomic(
            self.path(name),
            {
                "stage": name,
                "pid": os.getpid(),
                "finished_at": time.time(),
                "seconds": time.time() - t0,
                "result": result,
            },
        )
        return result
