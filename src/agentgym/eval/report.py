"""Writing a run's AgentEval outputs: ``results.json``, ``report.md`` and ``scores.png``.

``results.json`` is the machine-readable record (run config + `run_metrics` output), an
`agentgym.core.types.EvalResults` (`read_results` validates it);
``report.md`` shows the same numbers for people (a summary table, then a table per env with
stop reasons and pass@k); the plot shows each env's headline score with its 95 % CI, so two
runs can be eyeballed side by side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentgym.core.types import EvalResults, HeldoutScores
from agentgym.data.trajfile import write_atomic

RESULTS = "results.json"
REPORT = "report.md"
PLOT = "scores.png"

METRIC_LABEL = {"success": "success rate", "score": "mean score", "reward": "mean reward x100"}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _ci(ci: list[float], scale: float = 1.0) -> str:
    return f"[{scale * ci[0]:.1f}, {scale * ci[1]:.1f}]"


def render_markdown(results: dict[str, Any]) -> str:
    """``report.md`` text from a ``results.json`` dict."""
    run = results.get("run", {})
    envs: dict[str, dict[str, Any]] = results["envs"]
    lines = ["# AgentEval report", ""]
    if run:
        agent = run.get("agent", {})
        lines += [
            f"- agent: `{json.dumps(agent, sort_keys=True)}`",
            f"- split: `{run.get('split', '?')}`, samples: {run.get('samples', 1)}, seed: {run.get('seed', 0)}",
        ]
        if run.get("command"):
            lines.append(f"- command: `{run['command']}`")
        lines.append("")
    lines += [
        "| env | metric | score | 95% CI | success % | success 95% CI | invalid % | rounds | episodes | errors |",
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for env, m in envs.items():
        lines.append(
            f"| {env} | {METRIC_LABEL.get(m['metric'], m['metric'])} | {m['score']:.1f} | {_ci(m['score_ci'])} "
            f"| {_pct(m['success_rate'])} | {_ci(m['success_ci'], 100)} | {_pct(m['invalid_action_rate'])} "
            f"| {m['mean_rounds']:.2f} | {m['episodes']} | {m['errors']} |"
        )
    ov = results.get("overall", {})
    if "mean_score" in ov:
        lines += [
            "",
            f"Macro average over {ov['envs']} env(s): score {ov['mean_score']:.1f}, "
            f"success {_pct(ov['mean_success_rate'])} %.",
        ]
    for env, m in envs.items():
        lines += ["", f"## {env}", "", "| quantity | value |", "|---|---|"]
        lines.append(f"| items / episodes | {m['items']} / {m['episodes']} |")
        lines.append(f"| successes | {m['successes']} |")
        lines.append(f"| mean final reward | {m['mean_reward']:.4f} |")
        lines.append(
            f"| invalid actions | {m['invalid_actions']} ({_pct(m['invalid_action_rate'])} % of rounds) |"
        )
        lines.append(f"| stop reasons | {', '.join(f'{k}: {v}' for k, v in m['stops'].items())} |")
        lines.append(f"| env / model time (s) | {m['env_s']:.2f} / {m['model_s']:.2f} |")
        for k, v in m.get("pass_at_k", {}).items():
            lines.append(f"| pass@{k} | {_pct(v)} % |")
    return "\n".join(lines) + "\n"


def plot_scores(results: dict[str, Any], path: Path) -> Path | None:
    """A bar per env (its headline score, 0-100) with 95 % CI error bars; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    envs = list(results["envs"])
    scores = [results["envs"][e]["score"] for e in envs]
    lo = [max(0.0, s - results["envs"][e]["score_ci"][0]) for e, s in zip(envs, scores, strict=True)]
    hi = [max(0.0, results["envs"][e]["score_ci"][1] - s) for e, s in zip(envs, scores, strict=True)]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(envs) + 2), 3.6))
    ax.bar(envs, scores, yerr=[lo, hi], capsize=4, color="#4C72B0")
    ax.set_ylim(0, 112)
    ax.set_ylabel("score (0-100)")
    agent = results.get("run", {}).get("agent", {}).get("name", "")
    ax.set_title(f"AgentEval{': ' + agent if agent else ''} (95% CI)")
    for i, (s, up) in enumerate(zip(scores, hi, strict=True)):
        ax.text(i + 0.05, s + up + 1, f"{s:.1f}", ha="left", va="bottom", fontsize=8)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def read_results(run_dir: str | Path) -> EvalResults | HeldoutScores | None:
    """A run folder's ``results.json``, validated: an eval run's `EvalResults`, or the
    `HeldoutScores` an AgentEvol eval folder holds under the same name; None without the file."""
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "envs" in data and "overall" in data:
        return EvalResults.model_validate(data)
    return HeldoutScores.model_validate(data)


def write_report(run_dir: str | Path, results: dict[str, Any]) -> dict[str, Path | None]:
    """Write all outputs into ``run_dir``; returns their paths (plot None if matplotlib is missing).

    ``results.json`` is written atomically and only as a valid `EvalResults`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    valid = EvalResults.model_validate(results).dump()
    write_atomic(run_dir / RESULTS, (json.dumps(valid, indent=2, sort_keys=False) + "\n").encode())
    (run_dir / REPORT).write_text(render_markdown(results))
    plot = plot_scores(results, run_dir / PLOT) if results["envs"] else None
    return {"results": run_dir / RESULTS, "report": run_dir / REPORT, "plot": plot}
