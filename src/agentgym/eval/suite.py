"""AgentEval: which episodes a benchmark run plays.

The benchmark items of an env are its test split (``spec.splits["test"]``, the original AgentEval
ids where the original data defines them); ``split`` picks another split (``train`` for AgentTraj
collection and AgentEvol exploration), ``limit`` keeps the first N ids (a quick smoke run), and
``samples`` plays each item k times (pass@k). All samples of an item share the env seed, so they
differ only by the agent's sampling - the setting pass@k is defined for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agentgym.core.types import EnvSpec
from agentgym.rollout.runner import EpisodeItem


def parse_envs(envs: str | Sequence[str], available: Iterable[str]) -> list[str]:
    """``"maze,wordle"`` or ``"all"`` -> env ids, checked against ``available`` (order kept, no dups)."""
    avail = list(available)
    names = [e.strip() for e in envs.split(",")] if isinstance(envs, str) else [e.strip() for e in envs]
    names = [n for n in names if n]
    if not names:
        raise ValueError("no envs given; pass e.g. --envs maze,wordle or --envs all")
    if "all" in names:
        return avail
    unknown = [n for n in names if n not in avail]
    if unknown:
        raise ValueError(f"unknown env(s) {', '.join(unknown)}; available here: {', '.join(avail) or 'none'}")
    return list(dict.fromkeys(names))


def items_for(
    spec: EnvSpec, split: str = "test", limit: int | None = None, samples: int = 1, seed: int = 0
) -> list[EpisodeItem]:
    """The episodes for one env: the first ``limit`` ids of ``split``, each ``samples`` times."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    ids = spec.split(split)
    if limit is not None:
        ids = ids[:limit]
    return [EpisodeItem(spec.id, int(t), split, seed, s) for t in ids for s in range(samples)]


def build_suite(
    specs: Sequence[EnvSpec], split: str = "test", limit: int | None = None, samples: int = 1, seed: int = 0
) -> list[EpisodeItem]:
    """All episodes of a run, env by env."""
    return [it for spec in specs for it in items_for(spec, split, limit, samples, seed)]
