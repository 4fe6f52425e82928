"""Wordle expert: a deterministic information-maximising solver.

At each turn it knows (like the player) the *consistent set*: the answers that agree with all the
feedback so far. It then guesses the allowed word whose feedback over the consistent set has the
highest entropy, i.e. the guess that splits the remaining words into the most even groups;
among equal splits it prefers a word that may itself be the answer, then the alphabetically first.
With two words left, or on the last guess, it guesses a consistent word.

Why this always wins within 6 guesses in LMRL-Gym's game, where the host re-draws the hidden word
among the consistent words after every guess: every feedback shown is then also the feedback the
*final* hidden word would have produced, so the transcript is the ordinary Wordle game with that
final word as the answer. This solver wins the ordinary game for all 2,315 answers in at most 6
guesses (mean 3.46; checked in tests), hence on every task and seed.

Speed: the full feedback table (12,972 guesses x 2,315 answers, 30 MB) is built once per process
on first use (~1 s); a decision is then one gather plus a sort or bincount over (guesses x
consistent words), and decisions are memoised by consistent set, so replaying a state is free.
"""

from __future__ import annotations

import threading

import numpy as np

from agentgym.core.react import format_reply
from agentgym.envs.wordle.feedback import patterns
from agentgym.envs.wordle.words import WordLists, word_lists

_lock = threading.Lock()
_table: np.ndarray | None = None  # (answers, guesses) feedback codes, rows contiguous
_decisions: dict[bytes, int] = {}
_MAX_DECISIONS = 100_000
_SORT_BELOW = 128  # consistent sets smaller than this use the sort-based entropy


def feedback_table() -> np.ndarray:
    """Feedback code of every (answer, guess) pair, built once (thread-safe)."""
    global _table
    with _lock:
        if _table is None:
            wl = word_lists()
            step = 2000
            cols = [
                patterns(wl.guess_codes[i : i + step], wl.answer_codes)
                for i in range(0, len(wl.guesses), step)
            ]
            _table = np.ascontiguousarray(np.concatenate(cols).T)
        return _table


def _entropies(sub: np.ndarray) -> np.ndarray:
    """Entropy (bits) of each column's feedback distribution; ``sub`` is (consistent, guesses)."""
    c, n = sub.shape
    if c < _SORT_BELOW:
        # sum_k n_k log n_k from run lengths: sort each column, rank each element within its run,
        # and add f(r) - f(r-1) with f(x) = x log x (the increments telescope to f(n_k) per run)
        s = np.sort(sub, axis=0)
        idx = np.arange(c, dtype=np.int32)[:, None]
        start = np.zeros(s.shape, dtype=np.int32)
        start[1:] = np.where(s[1:] != s[:-1], idx[1:], 0)
        np.maximum.accumulate(start, axis=0, out=start)
        rank = idx - start + 1
        r = np.arange(c + 1, dtype=np.float64)
        f = np.zeros(c + 1)
        f[1:] = r[1:] * np.log2(r[1:])
        delta = np.diff(f, prepend=0.0)
        return np.log2(c) - delta[rank].sum(axis=0) / c
    flat = sub.astype(np.int32) + (np.arange(n, dtype=np.int32) * 243)[None, :]
    counts = np.bincount(flat.ravel(), minlength=n * 243).reshape(n, 243)
    nz = counts[counts > 0]
    rows = np.repeat(np.arange(n), (counts > 0).sum(axis=1))
    return np.log2(c) - np.bincount(rows, weights=nz * np.log2(nz), minlength=n) / c


def choose(consistent: np.ndarray, guesses_left: int = 6) -> int:
    """Index (into ``WordLists.guesses``) of the expert's guess; ``consistent`` = answer indices."""
    consistent = np.asarray(consistent, dtype=np.int64)
    if len(consistent) == 0:
        raise ValueError("no word is consistent with the feedback")
    if len(consistent) <= 2 or guesses_left <= 1:
        return int(consistent[0])  # answers come first in the guess list: same index
    key = consistent.tobytes()
    hit = _decisions.get(key)
    if hit is not None:
        return hit
    table = feedback_table()
    score = np.round(_entropies(table[consistent]), 9)
    best = np.flatnonzero(score == score.max())
    in_set = best[np.isin(best, consistent)]
    choice = int(in_set[0] if len(in_set) else best[0])
    if len(_decisions) < _MAX_DECISIONS:
        _decisions[key] = choice
    return choice


def spaced(word: str) -> str:
    return " ".join(word)


def expert_reply(consistent: np.ndarray, guesses_left: int, wl: WordLists | None = None) -> str:
    """The expert's reply: a short thought on the consistent set and the guess, letters spaced."""
    wl = wl or word_lists()
    word = wl.guesses[choose(consistent, guesses_left)]
    c = len(consistent)
    if c == 1:
        thought = f"Only {word} fits all the feedback."
    elif c == 2:
        other = wl.answers[int(consistent[1])]
        thought = f"Two words fit the feedback, {word} and {other}; I try {word}."
    elif guesses_left <= 1:
        thought = f"{c} words fit the feedback and this is my last guess, so I guess one of them."
    else:
        thought = f"{c} words fit the feedback so far; {word} splits them best."
    return format_reply(thought, spaced(word))
