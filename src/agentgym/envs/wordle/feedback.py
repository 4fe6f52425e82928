"""Wordle feedback, vectorised.

A feedback is five marks: ``g`` (right letter, right place), ``y`` (in the word, elsewhere), ``b``
(not in the word - or not as many times as guessed). Repeated letters follow the official rule:
greens are matched first, then yellows left to right while the answer still has unmatched copies.

A feedback is also encoded as an int ``sum(mark_i * 3**i)`` (b=0, y=1, g=2), 0..242, so a whole
block of (guess, answer) pairs is one uint8 array and filtering a candidate set is one comparison.
"""

from __future__ import annotations

import numpy as np

MARKS = "byg"
ALL_GREEN = 242  # 2 * (1 + 3 + 9 + 27 + 81)
_POW3 = np.array([1, 3, 9, 27, 81], dtype=np.uint8)


def patterns(guesses: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Feedback codes for every (guess, answer) pair: ``(n, 5)`` x ``(m, 5)`` -> ``(n, m)`` uint8.

    Guess letter i is yellow when it is not green and the answer has more copies of it than are
    already claimed - by earlier copies in the guess (green or yellow: either way they take one)
    and by later copies that are green. That count needs only a per-answer letter-count table and
    the greens, so the work is a few whole-array operations per position (0.7 s for the full
    12,972 x 2,315 table on one core).
    """
    n, m = guesses.shape[0], answers.shape[0]
    counts = np.zeros((26, m), dtype=np.int8)  # counts[letter, answer]
    for k in range(5):
        np.add.at(counts, (answers[:, k], np.arange(m)), 1)
    green = [guesses[:, i][:, None] == answers[:, i][None, :] for i in range(5)]
    code = np.zeros((n, m), dtype=np.uint8)
    for i in range(5):
        gi = guesses[:, i]
        earlier = np.zeros(n, dtype=np.int8)
        for j in range(i):
            earlier += guesses[:, j] == gi
        left = counts[gi] - earlier[:, None]  # (n, m) copies not claimed by earlier letters
        for k in range(i + 1, 5):
            rows = np.flatnonzero(guesses[:, k] == gi)
            if rows.size:
                left[rows] -= green[k][rows]
        yellow = ~green[i] & (left > 0)
        code += _POW3[i] * (2 * green[i].view(np.uint8) + yellow.view(np.uint8))
    return code


def pattern(guess: str, answer: str) -> int:
    """Feedback code of one pair (pure Python, for the env's own step)."""
    marks = [0] * 5
    left: dict[str, int] = {}
    for i in range(5):
        if guess[i] == answer[i]:
            marks[i] = 2
        else:
            left[answer[i]] = left.get(answer[i], 0) + 1
    for i in range(5):
        if marks[i] == 0 and left.get(guess[i], 0) > 0:
            marks[i] = 1
            left[guess[i]] -= 1
    return sum(m * 3**i for i, m in enumerate(marks))


def decode(code: int) -> str:
    """``242`` -> ``"g g g g g"``."""
    out = []
    for _ in range(5):
        code, m = divmod(int(code), 3)
        out.append(MARKS[m])
    return " ".join(out)


def patterns_one(
    guess: np.ndarray, columns: np.ndarray, letter_counts: np.ndarray, subset: np.ndarray | None = None
) -> np.ndarray:
    """Feedback codes of one guess (``(5,)`` letter codes) against the answers, the env's per-step
    filter: ``columns`` is the answers' letters by position ``(5, m)`` and ``letter_counts`` their
    letter counts ``(26, m)``, so each operation runs over one contiguous row (~20 of them).
    ``subset`` restricts the work to those answer indices (the consistent set shrinks fast)."""
    g = [int(x) for x in guess]
    counts = letter_counts[g]  # (5, m): copies of each guess letter in each answer
    if subset is not None:
        columns, counts = columns[:, subset], counts[:, subset]
    green = [columns[i] == g[i] for i in range(5)]
    code = np.zeros(columns.shape[1], dtype=np.uint8)
    for i in range(5):
        left = counts[i] - g[:i].count(g[i])
        for k in range(i + 1, 5):
            if g[k] == g[i]:
                left = left - green[k]
        code += _POW3[i] * (2 * green[i].view(np.uint8) + (~green[i] & (left > 0)).view(np.uint8))
    return code
