"""Trajectory files: the one place that reads, writes, converts and filters trajectory records.

Every reader of a trajectory file (AgentTraj loading, BC training data, AgentEvol's ``D{m}.jsonl``,
a run's ``trajectories.jsonl``), every turn -> chat-message conversion and every "keep the
successes" filter goes through here, so a format rule is fixed once for all of them.

Two formats (the records themselves are documented in `agentgym.core.types`):

* a **JSON list** - the original AgentTraj / AgentEval files (``[{"item_id", "conversations"}]``);
* **JSON lines** - our runs (``trajectories.jsonl``), AgentEvol's data sets, original inference
  outputs: one record per line.

`read_records` tells them apart by the first non-space character: ``[`` is a list; ``{`` is one
document when the whole file parses as one (a single record, or a ``{"data": [...]}`` wrapper),
lines otherwise. Lines are split on ``"\\n"`` only: records are written with ``ensure_ascii=False``,
so a value may hold U+2028, U+0085, ``\\x0b``, ``\\x1c`` ... unescaped, and ``str.splitlines()``
would cut such a record in two.

Writes are atomic (`write_atomic`: temp file, fsync, ``os.replace``, fsync of the folder): a kill
leaves the old file or the new one, never half of one. The run store's append-only file is the
exception - it is durable line by line instead (`agentgym.rollout.store`), and shares `encode_line`
and `parse_lines` with this module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from agentgym.core.types import Trajectory, Turn

T = TypeVar("T")

ROLE: dict[str, str] = {"human": "user", "gpt": "assistant"}
"""The role table: AgentGym speakers -> chat roles. Turns already in chat form (``role``:
system/user/assistant) pass through unchanged."""
CHAT_ROLES = frozenset({"system", "user", "assistant"})

LossOn = Literal["all_gpt", "loss_true"]
"""Which assistant messages a trainer learns from (see `to_messages`)."""
LossFlags = Literal["as_written", "all_gpt", "loss_true"] | None


class CorruptFile(ValueError):
    """A line of a JSON-lines file cannot be read (and it is not a torn tail that may be cut)."""


# ------------------------------------------------------------------------------------ reading
def parse_lines(
    data: bytes,
    path: str | Path,
    parse: Callable[[Any], T] = lambda rec: rec,
    *,
    torn_tail: bool = False,
    what: str = "a JSON record",
) -> tuple[list[T], int]:
    """The records of JSON-lines ``data`` (``parse`` applied to each) and the byte length of its
    intact prefix. Blank lines are skipped; lines are split on ``\\n`` only (module doc).

    ``torn_tail`` is the run store's rule for a file a kill may have cut short: a last line
    without its newline, and an unreadable line followed only by blank ones, are not records -
    they are left out of the prefix so the store can cut them. Without it (a finished file), a
    last line without a newline is an ordinary record and every unreadable line is an error.
    """
    records: list[T] = []
    good = pos = 0
    lines = data.split(b"\n")
    for i, raw in enumerate(lines):
        last = i == len(lines) - 1
        end = pos + len(raw) + (0 if last else 1)
        if raw.strip():
            try:
                if last and torn_tail:  # no trailing newline: the write was cut short
                    raise ValueError("no newline at the end")
                records.append(parse(json.loads(raw)))
            except ValueError as e:
                if torn_tail and (last or all(not rest.strip() for rest in lines[i + 1 :])):
                    return records, good
                raise CorruptFile(f"{path}: line {i + 1} is not {what} ({e}); fix or remove it") from e
        if not last or not torn_tail:
            good = end
        pos = end
    return records, good


def _document(data: bytes) -> Any:
    """The file as one JSON document, or None when it is not one (e.g. several lines of records)."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a trajectory file, JSON list or JSON lines (module doc), as dicts.

    Callers check what their records must hold (an ``item_id``, a ``conversations`` list); this
    checks only that each record is a JSON object."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no trajectory file at {path}")
    data = path.read_bytes()
    head = data.lstrip()[:1]
    if head == b"[":
        try:
            records = json.loads(data)
        except ValueError as e:
            raise ValueError(f"{path}: not JSON ({e})") from None
    else:
        doc = _document(data) if head == b"{" else None
        if isinstance(doc, dict):  # one record, or a {"data": [...]} / {"trajectories": [...]} wrapper
            records = doc.get("data") or doc.get("trajectories") or [doc]
        else:
            records = parse_lines(data, path)[0]
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a list of records, got {type(records).__name__}")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ValueError(f"{path}: record {i} is not a JSON object")
    return records


# ------------------------------------------------------------------------------------ writing
def encode_line(record: Mapping[str, Any]) -> bytes:
    """One JSON-lines record: UTF-8, non-ASCII kept as is (readable files), newline-terminated."""
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically: a kill leaves the old file or the new one.

    Written to a temp file in the same folder, fsynced, renamed over ``path`` (``os.replace`` is
    atomic on POSIX), then the folder is fsynced so the rename itself survives a power cut."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def write_records(
    path: str | Path, records: Iterable[Mapping[str, Any]], *, fmt: Literal["list", "lines"]
) -> Path:
    """Write ``records`` atomically as a JSON list (AgentTraj, one record per indented block) or
    as JSON lines (``fmt="lines"``: our runs' and AgentEvol's data sets)."""
    if fmt == "lines":
        data = b"".join(encode_line(r) for r in records)
    else:
        data = (json.dumps(list(records), ensure_ascii=False, indent=1) + "\n").encode()
    return write_atomic(path, data)


# ------------------------------------------------------------------------------- conversion
def _turn_fields(turn: Turn | Mapping[str, Any]) -> tuple[str, str, bool | None]:
    """(chat role, text, loss flag) of a `Turn` or a turn dict (``from``/``value`` or ``role``/``content``)."""
    if isinstance(turn, Turn):
        return ROLE[turn.from_], turn.value, turn.loss
    fields = turn if isinstance(turn, Mapping) else {}
    role = fields.get("from", fields.get("role"))
    role = ROLE.get(role, role) if isinstance(role, str) else None
    value = fields.get("value", fields.get("content"))
    if role not in CHAT_ROLES or not isinstance(value, str):
        raise ValueError(f"bad conversation turn (need from=human|gpt and a string value): {turn!r}")
    return role, value, fields.get("loss")


def to_messages(
    conversation: Sequence[Turn | Mapping[str, Any]], loss_on: LossFlags = None
) -> list[dict[str, Any]]:
    """AgentGym turns -> chat messages (human -> user, gpt -> assistant); ``loss_on`` says which
    ``loss`` keys the messages carry:

    * ``None`` - none, ``{"role", "content"}`` only: what an agent is prompted with;
    * ``"as_written"`` - every message, the turn's flag as stored (None on user turns, False on
      the ack, True on trained replies), so a data set leaves the choice to its trainer;
    * ``"all_gpt"`` - assistant messages, always True (the original ``bc_trainer.py`` trains on
      every reply, the "OK." ack included);
    * ``"loss_true"`` - assistant messages, True unless the flag is False (a file without flags
      trains on every reply, as the original would).
    """
    if loss_on not in (None, "as_written", "all_gpt", "loss_true"):
        raise ValueError(f"loss_on must be 'all_gpt', 'loss_true', 'as_written' or None, not {loss_on!r}")
    msgs: list[dict[str, Any]] = []
    for turn in conversation:
        role, value, loss = _turn_fields(turn)
        msg: dict[str, Any] = {"role": role, "content": value}
        if loss_on == "as_written":
            msg["loss"] = loss
        elif loss_on is not None and role == "assistant":
            msg["loss"] = True if loss_on == "all_gpt" else loss is not False
        msgs.append(msg)
    return msgs


# -------------------------------------------------------------------------------- filtering
def _env_threshold(env: str) -> float:
    from agentgym.core.registry import spec as env_spec

    return env_spec(env).success_threshold


def keep_successes(
    trajs: Iterable[Trajectory],
    threshold: float | Mapping[str, float] | None = None,
    *,
    per_item: int | None = 1,
    by: Literal["success", "reward"] = "success",
) -> list[Trajectory]:
    """The episodes worth training on, in their order, at most ``per_item`` per item (the first
    ones: samples come in order; None = all).

    ``threshold`` is the final reward to reach: one number, one per env, or None for each env's
    ``spec.success_threshold`` (registered envs). ``by`` says what else counts:

    * ``"success"`` - the env also said solved (``success``): an AgentTraj set (``collect``);
    * ``"reward"`` - the reward alone, errored episodes excepted: AgentEvol's filter, which may
      keep partly rewarded episodes (``min_reward`` below the success threshold).
    """
    kept: list[Trajectory] = []
    counts: dict[str, int] = {}
    for t in trajs:
        if threshold is None:
            thr = _env_threshold(t.env)
        else:
            thr = threshold[t.env] if isinstance(threshold, Mapping) else threshold
        ok = t.success if by == "success" else t.stop != "error"
        if not ok or t.reward < thr:
            continue
        if per_item is not None and counts.get(t.item_id, 0) >= per_item:
            continue
        counts[t.item_id] = counts.get(t.item_id, 0) + 1
        kept.append(t)
    return kept
