"""Cut the action out of a model reply ("Thought: ...\\nAction: ...").

The rules follow the original clients per env family (see `ActionFormat`). A reply with no
parsable action yields ``ParsedReply(action=None, error=...)``; the runner turns the error into a
corrective observation and counts the turn as invalid. The reply is only ever treated as text.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from agentgym.core.types import DEFAULT_STOP, ActionFormat

# The reply is a model's (or a hostile client's) text of any length: every pattern here runs in
# time linear in it. ``\s*+`` is possessive (never gives back what it took): handing whitespace
# back cannot help a match here (":" is not whitespace; a group after it only gets the blanks
# that strip() removes anyway), but it let the original ``\s*(.*?)``` split a long whitespace
# run between the two in every possible way before failing: ``"```sql" + " " * 32_000`` (no
# closing fence) took seconds, 1 MB would take hours. Identical results otherwise.
_ACTION = re.compile(r"Action\s*+:", re.IGNORECASE)
_ACTION_REVERSED = re.compile(r":\s*+noitca", re.IGNORECASE)
"""`_ACTION` spelled backwards: its first match in the reversed reply is the reply's last "Action:"
(matches of `_ACTION` never overlap), found without walking through every earlier one."""
_ACTION_LINE = re.compile(r"Action\s*+:\s*+([^\n]*)", re.IGNORECASE)
"""An Action and the rest of its line (the original's lazy ``(.*?)(?=\n|$)`` took the same text
with a lookahead per character)."""
_SAFE_ASCII = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789, ")
_UNSAFE_ASCII = bytes(c for c in range(128) if c not in _SAFE_ASCII)
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
    """The action cut out of a model reply, or None with the ``error`` to show the model."""

    action: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """An action was found."""
        return self.action is not None


def _strip_eos(text: str) -> str:
    text = text.strip()
    for tok in _EOS:
        if text.endswith(tok):
            text = text[: -len(tok)].rstrip()
    return text


def after_last_action(text: str) -> str | None:
    r"""The text after the last ``Action:`` of ``text`` (any case, blanks before the colon), or
    None without one - ``re.split(r"Action\s*:", text, flags=re.I)[-1]`` in one backward pass,
    without building the list of every earlier part."""
    m = _ACTION_REVERSED.search(text[::-1])
    return None if m is None else text[len(text) - m.start() :]


def cut_at_stop(text: str, stop: Sequence[str] = DEFAULT_STOP) -> str:
    """``text`` up to the first occurrence of any of ``stop`` (a chat model that writes past its
    action goes on to invent the next "Observation:"; that and everything after is not its turn).

    What a server does with a request's ``stop``, done again on the client side for the servers
    and backends that ignore it. One ``str.find`` per stop string: linear in ``text``."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s, 0, cut + len(s) - 1)  # only a match that starts before the current cut
            if 0 <= i < cut:
                cut = i
    return text[:cut]


def _keep_safe(text: str) -> str:
    """``re.sub(r"[^A-Za-z0-9, ]", "", text)`` in two C passes (re.sub paid a call per removed character)."""
    return text.encode("ascii", "ignore").translate(None, _UNSAFE_ASCII).decode("ascii")


def parse_reply(reply: str, fmt: ActionFormat, stop: Sequence[str] = DEFAULT_STOP) -> ParsedReply:
    """Extract the action from ``reply`` according to ``fmt`` (in time linear in its length).

    The reply is first cut at the first of ``stop`` (the env's `EnvSpec.stop`): a reply that goes on
    after its action with an invented "Observation: ..." (and maybe more actions) is judged by the
    first complete action only, as if the server had honoured the stop strings. The error of a
    reply without an action says what is missing."""
    reply = _strip_eos(cut_at_stop(reply or "", stop))
    if fmt == "raw":
        return ParsedReply(reply) if reply else ParsedReply(None, "The reply was empty. " + FORMAT_HINT[fmt])
    if fmt == "sql_block":
        last = deque(_SQL_BLOCK.finditer(reply), maxlen=1)
        if not last:
            what = (
                "The ``` block has no closing ```."
                if "```sql" in reply.lower()
                else "No ```sql ... ``` block found."
            )
            return ParsedReply(None, f"{what} {FORMAT_HINT[fmt]}")
        sql = last[0].group(1).strip()
        return ParsedReply(sql) if sql else ParsedReply(None, "The SQL block is empty. " + FORMAT_HINT[fmt])
    if fmt == "react_line":
        lines = _ACTION_LINE.finditer(reply)
        first = next(lines, None)
        if first is not None and next(lines, None) is not None:  # a second one is enough to know
            return ParsedReply(
                None, "The reply has more than one Action line; give exactly one. " + FORMAT_HINT[fmt]
            )
        if first is None:
            return ParsedReply(None, 'No action found: the reply has no "Action:". ' + FORMAT_HINT[fmt])
        action = _keep_safe(first.group(1)).strip()
        if action:
            return ParsedReply(action)
        what = "is empty" if not first.group(1).strip() else "has none of the characters A-Z, a-z, 0-9"
        return ParsedReply(None, f'The action after "Action:" {what}. ' + FORMAT_HINT[fmt])
    if fmt == "react_first":
        first = _ACTION.search(reply)
        if first is None:
            return ParsedReply(None, 'No action found: the reply has no "Action:". ' + FORMAT_HINT[fmt])
        second = _ACTION.search(reply, first.end())
        text = reply[first.end() : second.start() if second is not None else len(reply)]
        action = text.strip().split("\n", 1)[0].strip()
    else:
        rest = after_last_action(reply)
        if rest is None:
            return ParsedReply(None, 'No action found: the reply has no "Action:". ' + FORMAT_HINT[fmt])
        action = rest.strip()
    if action:
        return ParsedReply(action)
    return ParsedReply(None, 'The action is empty: nothing follows "Action:". ' + FORMAT_HINT[fmt])


def format_reply(thought: str, action: str) -> str:
    """The canonical reply of experts and examples: ``Thought: ...\\nAction: ...``."""
    return f"Thought: {thought}\nAction: {action}"
