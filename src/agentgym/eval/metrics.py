"""AgentEval metrics: per-env success rate, score on the paper's scale, CIs, pass@k.

Scales (DESIGN §8, reference §5.4): the paper reports an env by ``spec.metric`` -

* ``success`` - success rate, shown as 0-100;
* ``score``   - mean final reward on the env's own 0-100 scale (SciWorld);
* ``reward``  - mean final reward x 100 (BabyAI, whose rewards are < 1 even on success).

Intervals are 95 %: Wilson for rates (well-behaved at 0 % and 100 %, unlike the normal
approximation), a seeded percentile bootstrap for mean scores (no normality assumption; the
seed makes reports reproducible). pass@k uses the unbiased estimator of Chen et al. (2021):
``1 - C(n-c, k) / C(n, k)`` per item, averaged over items.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from agentgym.core.types import Metric, Trajectory

Z95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 2000


def wilson_ci(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n]; got {successes} of {n}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if successes == 0 else lo), (1.0 if successes == n else hi)  # exact ends, no 0.9999...


def bootstrap_ci(
    values: Sequence[float], seed: int = 0, n_boot: int = BOOTSTRAP_SAMPLES, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded, so a report is reproducible)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return float(lo), float(hi)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one item with ``n`` samples of which ``c`` succeeded."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if k < 1 or k > n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def episode_score(traj: Trajectory, metric: Metric) -> float:
    """One episode's contribution to the env's headline number (0-100 scale)."""
    if metric == "success":
        return 100.0 * float(traj.success)
    if metric == "score":
        return float(traj.reward)
    if metric == "reward":
        return 100.0 * float(traj.reward)
    raise ValueError(f"unknown metric {metric!r}")


def env_metrics(trajs: Sequence[Trajectory], metric: Metric = "success", seed: int = 0) -> dict[str, Any]:
    """All AgentEval numbers of one env's episodes (rates in 0-1, ``score`` on the 0-100 scale)."""
    n = len(trajs)
    if n == 0:
        raise ValueError("no episodes to score")
    succ = sum(1 for t in trajs if t.success)
    lo, hi = wilson_ci(succ, n)
    scores = [episode_score(t, metric) for t in trajs]
    if metric == "success":
        score_ci = (100 * lo, 100 * hi)
    else:
        score_ci = bootstrap_ci(scores, seed=seed)
    rounds = sum(t.rounds for t in trajs)
    invalid = sum(t.invalid_actions for t in trajs)
    stops: dict[str, int] = defaultdict(int)
    for t in trajs:
        stops[t.stop or "unknown"] += 1
    by_item: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        by_item[t.item_id].append(t)
    out: dict[str, Any] = {
        "metric": metric,
        "episodes": n,
        "items": len(by_item),
        "successes": succ,
        "success_rate": succ / n,
        "success_ci": [lo, hi],
        "score": float(np.mean(scores)),
        "score_ci": [float(score_ci[0]), float(score_ci[1])],
        "mean_reward": float(np.mean([t.reward for t in trajs])),
        "invalid_action_rate": invalid / rounds if rounds else 0.0,
        "invalid_actions": invalid,
        "mean_rounds": rounds / n,
        "stops": dict(sorted(stops.items())),
        "errors": stops.get("error", 0),
        "env_s": float(sum(t.timing.env_s for t in trajs)),
        "model_s": float(sum(t.timing.model_s for t in trajs)),
    }
    samples = min(len(v) for v in by_item.values())
    if max(len(v) for v in by_item.values()) > 1:
        out["pass_at_k"] = {
            str(k): float(
                np.mean([pass_at_k(len(v), sum(t.success for t in v), k) for v in by_item.values()])
            )
            for k in range(1, samples + 1)
        }
    return out


def group_by_env(trajs: Iterable[Trajectory]) -> dict[str, list[Trajectory]]:
    out: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        out[t.env or t.item_id.rpartition("_")[0]].append(t)
    return dict(out)


def run_metrics(trajs: Iterable[Trajectory], metrics: dict[str, Metric], seed: int = 0) -> dict[str, Any]:
    """Per-env metrics plus the macro average of the env scores (each env weighs the same)."""
    per_env = {
        env: env_metrics(ts, metrics.get(env, "success"), seed)
        for env, ts in sorted(group_by_env(trajs).items())
    }
    overall: dict[str, Any] = {"envs": len(per_env), "episodes": sum(m["episodes"] for m in per_env.values())}
    if per_env:
        overall["mean_score"] = float(np.mean([m["score"] for m in per_env.values()]))
        overall["mean_success_rate"] = float(np.mean([m["success_rate"] for m in per_env.values()]))
    return {"envs": per_env, "overall": overall}
