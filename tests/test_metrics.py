"""AgentEval metrics with known values: Wilson CIs, pass@k, score scales, bootstrap, compare."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agentgym.core.types import Trajectory
from agentgym.eval.compare import compare_runs, paired_bootstrap_ci, render_compare
from agentgym.eval.metrics import bootstrap_ci, env_metrics, episode_score, pass_at_k, run_metrics, wilson_ci
from agentgym.eval.report import render_markdown
from agentgym.rollout.store import RunStore


def T(env: str, task: int, success: bool, reward: float | None = None, sample: int = 0, **kw) -> Trajectory:
    r = float(success) if reward is None else reward
    return Trajectory(
        item_id=f"{env}_{task}", env=env, task_id=task, sample=sample, success=success, reward=r, **kw
    )


def test_wilson_known_values():
    lo, hi = wilson_ci(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    lo, hi = wilson_ci(25, 25)
    assert hi == 1.0 and round(lo, 4) == 0.8668
    lo, hi = wilson_ci(0, 25)
    assert lo == 0.0 and round(hi, 4) == 0.1332
    assert wilson_ci(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_ci(3, 2)


def test_pass_at_k_known_values():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0  # n - c < k: some draw of 3 must contain a success
    assert pass_at_k(10, 1, 10) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_bootstrap_ci_brackets_the_mean_and_is_seeded():
    rng = np.random.default_rng(7)
    x = rng.normal(50, 10, size=400)
    lo, hi = bootstrap_ci(x)
    assert lo < x.mean() < hi
    se = x.std(ddof=1) / math.sqrt(len(x))  # agrees with the normal interval for large n
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    assert bootstrap_ci([5.0, 5.0, 5.0]) == (5.0, 5.0)
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_scores_follow_the_env_metric():
    t = T("babyai", 1, True, reward=0.62)
    assert episode_score(t, "success") == 100.0
    assert episode_score(t, "reward") == pytest.approx(62.0)
    assert episode_score(T("sciworld", 1, False, reward=45.0), "score") == 45.0
    m = env_metrics([T("babyai", i, r > 0, reward=r) for i, r in enumerate([0.9, 0.5, 0.0, 0.6])], "reward")
    assert m["score"] == pytest.approx(50.0) and m["success_rate"] == 0.75
    assert m["score_ci"][0] <= 50.0 <= m["score_ci"][1]


def test_env_metrics_counts_and_pass_at_k():
    trajs = []
    outcomes = {0: [True, True, False], 1: [False, False, False], 2: [True, False, False]}
    for task, res in outcomes.items():
        for s, ok in enumerate(res):
            trajs.append(
                T(
                    "maze",
                    task,
                    ok,
                    sample=s,
                    rounds=4,
                    invalid_actions=1 if not ok else 0,
                    stop="done" if ok else "max_rounds",
                )
            )
    m = env_metrics(trajs, "success")
    assert (m["episodes"], m["items"], m["successes"]) == (9, 3, 3)
    assert m["success_rate"] == pytest.approx(1 / 3) and m["score"] == pytest.approx(100 / 3)
    lo, hi = wilson_ci(3, 9)
    assert m["success_ci"] == [lo, hi] and m["score_ci"] == pytest.approx([100 * lo, 100 * hi])
    assert m["invalid_action_rate"] == pytest.approx(6 / 36) and m["mean_rounds"] == 4
    assert m["stops"] == {"done": 3, "max_rounds": 6}
    # per item pass@2: 1 - C(1,2)/C(3,2) = 1; 0; 1 - C(2,2)/C(3,2) = 2/3
    assert m["pass_at_k"]["1"] == pytest.approx(1 / 3)
    assert m["pass_at_k"]["2"] == pytest.approx((1 + 0 + 2 / 3) / 3)
    assert m["pass_at_k"]["3"] == pytest.approx(2 / 3)
    assert "pass_at_k" not in env_metrics(trajs[:1])
    with pytest.raises(ValueError):
        env_metrics([])


def test_run_metrics_macro_average_and_report():
    trajs = [T("maze", i, i < 20) for i in range(25)] + [
        T("sciworld", i, False, reward=40.0) for i in range(4)
    ]
    res = run_metrics(trajs, {"maze": "success", "sciworld": "score"})
    assert res["envs"]["maze"]["score"] == pytest.approx(80.0)
    assert res["envs"]["sciworld"]["score"] == pytest.approx(40.0)
    assert res["overall"]["mean_score"] == pytest.approx(60.0) and res["overall"]["episodes"] == 29
    md = render_markdown(res)
    assert "| maze | success rate | 80.0 |" in md and "| sciworld | mean score | 40.0 |" in md


def test_paired_bootstrap_and_compare(tmp_path):
    assert paired_bootstrap_ci(np.zeros(5), np.ones(5)) == (1.0, 1.0)
    a_vals = np.array([0, 100, 0, 100, 0, 100, 0, 0] * 3, dtype=float)
    b_vals = np.array([100, 100, 0, 100, 100, 100, 0, 100] * 3, dtype=float)
    lo, hi = paired_bootstrap_ci(a_vals, b_vals)
    assert 0 < lo < (b_vals - a_vals).mean() < hi
    with RunStore(tmp_path / "a") as s:
        for i, v in enumerate(a_vals):
            s.add(T("maze", i, bool(v)))
        s.add(T("wordle", 0, True))
    with RunStore(tmp_path / "b") as s:
        for i, v in enumerate(b_vals):
            s.add(T("maze", i, bool(v)))
        s.add(T("maze", 99, True))  # not in A: ignored
    cmp = compare_runs(tmp_path / "a", tmp_path / "b")
    maze = cmp["envs"]["maze"]
    assert maze["shared_items"] == 24 and maze["only_b"] == 1
    assert maze["score"]["delta"] == pytest.approx((b_vals - a_vals).mean())
    assert maze["score"]["significant"] and maze["b_better"] == 9 and maze["a_better"] == 0
    assert cmp["envs"]["wordle"]["shared_items"] == 0
    text = render_compare(cmp)
    assert "| maze | success | 24 |" in text and "+37.5 *" in text
