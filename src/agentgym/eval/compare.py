"""``agentgym compare RUN_A RUN_B``: per-env differences between two runs on the same items.

Only items present in both runs count (a run with --limit compares fairly against a full one).
Each item's value is its mean over samples (success as 0/100, score on the env's scale), the
delta is mean(B - A) over shared items, and its 95 % CI comes from a paired bootstrap: items are
resampled together, so the per-item correlation between the runs (an easy item is easy for both)
narrows the interval compared with two independent CIs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from agentgym.core.types import EvalResults, Metric, Trajectory
from agentgym.eval.metrics import BOOTSTRAP_SAMPLES, episode_score, group_by_env
from agentgym.eval.report import read_results
from agentgym.rollout.store import read_trajectories


def paired_bootstrap_ci(
    a: np.ndarray, b: np.ndarray, seed: int = 0, n_boot: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float]:
    """95 % percentile CI of mean(b - a), resampling item pairs."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if d.size == 0:
        return float("nan"), float("nan")
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def _metrics_of(run: Path) -> dict[str, Metric]:
    """Each env's metric from the run's results.json; success where unknown (no file, or an
    AgentEvol eval folder's, which scores success only)."""
    results = read_results(run)
    if not isinstance(results, EvalResults):
        return {}
    return {env: m.metric for env, m in results.envs.items()}


def _per_item(trajs: list[Trajectory], metric: Metric) -> dict[str, tuple[float, float]]:
    """item_id -> (mean success x100, mean score) over its samples."""
    acc: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        acc[t.item_id].append(t)
    return {
        i: (
            100.0 * float(np.mean([t.success for t in ts])),
            float(np.mean([episode_score(t, metric) for t in ts])),
        )
        for i, ts in acc.items()
    }


def compare_runs(run_a: str | Path, run_b: str | Path, seed: int = 0) -> dict[str, Any]:
    """Per-env paired deltas (B - A) of success rate (0-100) and score over the shared items."""
    run_a, run_b = Path(run_a), Path(run_b)
    ta, tb = group_by_env(read_trajectories(run_a)), group_by_env(read_trajectories(run_b))
    metrics = {**_metrics_of(run_a), **_metrics_of(run_b)}
    out: dict[str, Any] = {"run_a": str(run_a), "run_b": str(run_b), "envs": {}}
    for env in sorted(set(ta) | set(tb)):
        metric = metrics.get(env, "success")
        ia, ib = _per_item(ta.get(env, []), metric), _per_item(tb.get(env, []), metric)
        shared = sorted(set(ia) & set(ib))
        row: dict[str, Any] = {
            "metric": metric,
            "shared_items": len(shared),
            "only_a": len(set(ia) - set(ib)),
            "only_b": len(set(ib) - set(ia)),
        }
        if shared:
            for j, name in enumerate(("success", "score")):
                a = np.array([ia[i][j] for i in shared])
                b = np.array([ib[i][j] for i in shared])
                lo, hi = paired_bootstrap_ci(a, b, seed=seed)
                row[name] = {
                    "a": float(a.mean()),
                    "b": float(b.mean()),
                    "delta": float((b - a).mean()),
                    "ci": [lo, hi],
                    "significant": bool(lo > 0 or hi < 0),
                }
            row["b_better"] = sum(1 for i in shared if ib[i][1] > ia[i][1])
            row["a_better"] = sum(1 for i in shared if ia[i][1] > ib[i][1])
        out["envs"][env] = row
    return out


def render_compare(cmp: dict[str, Any]) -> str:
    """A markdown table of `compare_runs` output."""
    lines = [
        f"# compare: A = `{cmp['run_a']}`, B = `{cmp['run_b']}`",
        "",
        "| env | metric | shared items | A score | B score | delta (B-A) | 95% CI | success delta | items B>A / A>B |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for env, r in cmp["envs"].items():
        if not r["shared_items"]:
            lines.append(
                f"| {env} | {r['metric']} | 0 | - | - | - | - | - | only A: {r['only_a']}, only B: {r['only_b']} |"
            )
            continue
        s, sc = r["score"], r["success"]
        star = " *" if s["significant"] else ""
        lines.append(
            f"| {env} | {r['metric']} | {r['shared_items']} | {s['a']:.1f} | {s['b']:.1f} | {s['delta']:+.1f}{star} "
            f"| [{s['ci'][0]:+.1f}, {s['ci'][1]:+.1f}] | {sc['delta']:+.1f} | {r['b_better']} / {r['a_better']} |"
        )
    lines += ["", "`*`: the 95 % paired-bootstrap CI excludes 0."]
    return "\n".join(lines) + "\n"
