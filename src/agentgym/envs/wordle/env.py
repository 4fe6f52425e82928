"""`WordleEnv`: LMRL-Gym's Wordle over the official word lists.

Rules:

* the hidden word is drawn from the 2,315 answers with the env's own RNG (seeded by task id and
  seed). As in LMRL-Gym, after every guess it is **re-drawn among the answers consistent with all
  feedback so far**, so the game is won only when one word is left and it is guessed, i.e. when
  the feedback is ``g g g g g``;
* a guess is ``"f r o w n"`` or ``"frown"`` (case, spaces, quotes and a full stop tolerated) and
  must be one of the 12,972 allowed guesses. Anything else is an **invalid action**: the
  observation says why and it does **not** use one of the 6 guesses. It still uses a round, so at
  most 8 replies (``max_rounds``) are allowed in all: invalid replies eat into the slack of 2;
* 6 valid guesses without a win end the game (``terminated``, reward 0); reward 1 on the winning
  guess, else 0 (AgentGym's mapping of LMRL-Gym's rewards).
"""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
from pydantic import Field

from agentgym.core.env import Env, invalid
from agentgym.core.types import EnvOptions, EnvSpec, StepResult
from agentgym.envs.wordle import expert, prompt
from agentgym.envs.wordle.feedback import ALL_GREEN, decode, pattern, patterns_one
from agentgym.envs.wordle.tasks import TEST_IDS, TRAIN_IDS
from agentgym.envs.wordle.words import WORD_LENGTH, word_lists

GUESSES = 6
_STRIP = re.compile(r"[\s\"'`.,!]")
_STRIP_ASCII = dict.fromkeys(ord(c) for c in " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\"'`.,!")
r"""`_STRIP` on ASCII text (``\s`` there is these whitespace characters): `str.translate` drops
them in one pass, where ``re.sub`` pays a replacement per dropped character (~200 ms for a
megabyte of blanks; both linear)."""


def parse_guess(action: str) -> str:
    """``" F r o w n. "`` -> ``"frown"`` (spaces, quotes and punctuation around letters dropped)."""
    if action.isascii():
        return action.translate(_STRIP_ASCII).lower()
    return _STRIP.sub("", action).lower()


class WordleOptions(EnvOptions):
    guesses: int = Field(GUESSES, ge=1, le=20, description="Valid guesses before the game is lost.")


class WordleEnv(Env):
    options = WordleOptions
    spec = EnvSpec(
        id="wordle",
        version="1",
        max_rounds=8,
        metric="success",
        action_format="react_first",
        splits={"train": TRAIN_IDS, "test": TEST_IDS},
        description="LMRL-Gym Wordle (hidden word re-drawn among consistent words) on the official lists.",
    )

    def __init__(self, max_rounds: int | None = None, guesses: int = GUESSES) -> None:
        super().__init__(max_rounds)
        if isinstance(guesses, bool) or not isinstance(guesses, int) or guesses < 1:
            raise ValueError(f"wordle: guesses must be an int >= 1, got {guesses!r}")
        self.words = word_lists()
        self.max_guesses = guesses
        self.hidden = ""
        self.consistent = np.arange(len(self.words.answers))
        self.history: list[tuple[str, str]] = []  # (guess, marks)

    @property
    def guesses_left(self) -> int:
        return self.max_guesses - len(self.history)

    def instruction(self) -> str:
        return prompt.instruction(self.max_guesses, self.max_rounds)

    def _info(self) -> dict[str, Any]:
        return {"guesses_left": self.guesses_left, "consistent": int(len(self.consistent))}

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.consistent = np.arange(len(self.words.answers))
        self.history = []
        self.hidden = self.words.answers[self.rng.randrange(len(self.consistent))]
        return prompt.start(self.max_guesses), self._info()

    def _step(self, action: str) -> StepResult:
        word = parse_guess(action)
        reason = self._why_invalid(word)
        if reason:
            shown = action.strip()[:60]
            plural = "guess" if self.guesses_left == 1 else "guesses"
            left = f"{self.guesses_left} {plural} left; this reply did not use one"
            return invalid(f'Invalid guess "{shown}": {reason}. ({left}.)', **self._info())
        code = pattern(word, self.hidden)
        marks = decode(code)
        self.history.append((word, marks))
        # keep the answers that would have given this feedback, then re-draw the hidden word
        wl = self.words
        subset = None if len(self.consistent) == len(wl.answers) else self.consistent
        fb = patterns_one(wl.guess_codes[wl.guess_index[word]], wl.answer_columns, wl.letter_counts, subset)
        self.consistent = self.consistent[fb == code]
        self.hidden = self.words.answers[int(self.consistent[self.rng.randrange(len(self.consistent))])]
        info = {**self._info(), "guess": word, "feedback": marks}
        if code == ALL_GREEN:
            return StepResult(prompt.won(word, marks), 1.0, True, False, info)
        if self.guesses_left <= 0:
            return StepResult(prompt.lost(word, marks, self.hidden), 0.0, True, False, info)
        return StepResult(prompt.feedback(word, marks, self.guesses_left), 0.0, False, False, info)

    def _why_invalid(self, word: str) -> str | None:
        if not word:
            return "the guess is empty"
        if not (word.isascii() and word.isalpha()):
            return "a guess may only contain the letters a-z"
        if len(word) != WORD_LENGTH:
            return f"a guess must have exactly {WORD_LENGTH} letters, not {len(word)}"
        if word not in self.words.guess_index:
            return f"{word.upper()} is not in the word list"
        return None

    def filtered_vocab(self, limit: int = 40) -> list[str]:
        """Up to ``limit`` answers still consistent with the feedback, evenly spread over them.

        The original ``/wordle/filtered_vocab`` answered a short list that its client pastes into the
        prompt; the full 12,972-word list would be ~80k characters there. No RNG is drawn, so asking
        never changes the episode."""
        words = self.words.answers
        idx = self.consistent
        if len(idx) > limit:
            idx = idx[np.linspace(0, len(idx) - 1, limit).round().astype(int)]
        return [words[int(i)] for i in idx]

    def expert_reply(self) -> str:
        return expert.expert_reply(self.consistent, self.guesses_left, self.words)

    def random_action(self, rng: random.Random) -> str:
        """A uniformly random allowed guess (Wordle cannot list its actions: 12,972 of them)."""
        return prompt.spaced(rng.choice(self.words.guesses))
