"""Cut the action out of a model reply ("Thought: ...\\nAction: ...").

The rules follow the original clients per env family (see `ActionFormat`). A reply with no
parsable action yields ``ParsedReply(action=None, error=...)``; the runner turns the error into a
corrective observation and counts the turn as invalid. The reply is only ever treated as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentgym.core.types import ActionFormat

# The reply is a model's (or a hostile client's) text of any length: every pattern here runs in
# time linear in it. ``\s*+`` is possessive (never gives back what it took): handing whitespace
# back cannot help a match here (":" is not whitespace; a group after it only gets the blanks
# that strip() removes anyway), but it let the original ``\s*(.*?)``` split a long whitespace
# run between the two in every possible way before failing: ``"```sql" + " " * 32_000`` (no
# closing fence) took seconds, 1 MB would take hours. Identical results otherwise.
_ACTION = re.compile(r"Action\s*+:", re.IGNORECASE)
_ACTION_LINE = re.compile(r"Action\s*+:\s*+(.*?)(?=\n|$)", re.IGNORECASE)
_NOT_SAFE = re.compile(r"[^A-Za-z0-9, ]")
_SQL_BLOCK = re.compile(r"```sql\s*+(.*?)```", re.IGNORECASE | re.DOTALL)
_EOS = ("</s>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>")

FORMAT_HINT = {
    "react_first": 'Reply in the form "Thought: <your reasoning>\\nAction: <one action>".',
    "react_last": 'Reply in the form "Thought: <your reasoning>\\nAction: <one action>".',
    "react_line": 'Reply in the form "Thought: <your reasoning>\\nAction: <one action>", with one Action line.',
    "sql_block": 'Reply with "Thought: <reasoning>" then "Action:" and one SQL query in a ```sql ... ``` block.',
    "raw": "Reply with a Thought and one Action in the format the instruction gives.",
}


@dataclass(frozen=True, slots=True)
class ParsedReply:
    action: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.action is not None


def _strip_eos(text: str) -> str:
    text = text.strip()
    for tok in _EOS:
        if text.endswith(tok):
            text = text[: -len(tok)].rstrip()
    return text


def parse_reply(reply: str, fmt: ActionFormat) -> ParsedReply:
    """Extract the action from ``reply`` according to ``fmt``."""
    reply = _strip_eos(reply or "")
    if fmt == "raw":
        return ParsedReply(reply) if reply else ParsedReply(None, "The reply was empty. " + FORMAT_HINT[fmt])
    if fmt == "sql_block":
        blocks = _SQL_BLOCK.findall(reply)
        if not blocks:
            return ParsedReply(None, "No ```sql ... ``` block found. " + FORMAT_HINT[fmt])
        sql = blocks[-1].strip()
        return ParsedReply(sql) if sql else ParsedReply(None, "The SQL block is empty. " + FORMAT_HINT[fmt])
    if fmt == "react_line":
        matches = _ACTION_LINE.findall(reply)
        if len(matches) > 1:
            return ParsedReply(None, "The reply has more than one Action. " + FORMAT_HINT[fmt])
        action = _NOT_SAFE.sub("", matches[0]).strip() if matches else ""
        return ParsedReply(action) if action else ParsedReply(None, "No action found. " + FORMAT_HINT[fmt])
    parts = _ACTION.split(reply)
    if len(parts) < 2:
        return ParsedReply(None, "No action found. " + FORMAT_HINT[fmt])
    action = (parts[1] if fmt == "react_first" else parts[-1]).strip()
    if fmt == "react_first":
        action = action.split("\n", 1)[0].strip()
    return ParsedReply(action) if action else ParsedReply(None, "The action is empty. " + FORMAT_HINT[fmt])


def format_reply(thought: str, action: str) -> str:
    """The canonical reply of experts and examples: ``Thought: ...\\nAction: ...``."""
    return f"Thought: {thought}\nAction: {action}"
