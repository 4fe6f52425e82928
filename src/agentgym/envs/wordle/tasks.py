"""Wordle task ids. A task id only seeds the env's RNG (which draws and re-draws the hidden word),
as the original's ``reset(seed)``: test = ids 0-24 (the 25 AgentEval items), train = 1000-4999."""

from __future__ import annotations

TEST_IDS: list[int] = list(range(25))
TRAIN_IDS: list[int] = list(range(1000, 5000))
