"""AgentEvol reporting: the per-iteration table (rich / markdown) and the success plot (matplotlib).

Input is the lineage (see `agentgym.train.evol`): one entry per iteration with its eval scores,
plus the random baseline. Iteration 0 is BC; iterations >= 1 are AgentEvol. The entry points take
a `Lineage` or a ``lineage.json`` dict, which they validate first: a malformed file is an error
that names the bad key, not a KeyError deep in a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.core.types import Lineage


def _checked(lineage: Lineage | dict[str, Any]) -> dict[str, Any]:
    return (lineage if isinstance(lineage, Lineage) else Lineage.model_validate(lineage)).dump()


def _label(m: int) -> str:
    return "BC" if m == 0 else f"evol {m}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def table_rows(lineage: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per evaluated model (and random first): success per env, overall and on the test split."""
    envs = lineage["envs"]
    rows = []
    if lineage.get("random"):
        rows.append(
            {"model": "random", "records": None, "kept": None, "scores": lineage["random"], "vs_bc": {}}
        )
    for it in lineage["iterations"]:
        if it.get("eval"):
            rows.append(
                {
                    "model": _label(it["iteration"]),
                    "records": it.get("records"),
                    "kept": it.get("kept"),
                    "scores": it["eval"],
                    "vs_bc": it.get("vs_bc") or {},
                }
            )
        ctl = it.get("control")
        if ctl and ctl.get("eval"):
            rows.append(
                {
                    "model": f"control {it['iteration']}",
                    "records": ctl.get("records"),
                    "kept": None,
                    "scores": ctl["eval"],
                    "vs_bc": ctl.get("vs_bc") or {},
                }
            )
    for r in rows:
        r["cells"] = {
            env: (
                r["scores"].get(env, {}).get("success_rate"),
                r["scores"].get(env, {}).get("test_success_rate"),
            )
            for env in envs
        }
    return rows


def _cell(pair: tuple[float | None, float | None], ci: list[float] | None) -> str:
    overall, test = pair
    text = _pct(overall)
    if ci:
        text += f" [{_pct(ci[0])}-{_pct(ci[1])}]"
    if test is not None:
        text += f" (test {_pct(test)})"
    return text


def _delta(d: dict[str, Any] | None) -> str:
    """``+6.2 [+1.4, +11.0] *``: paired delta vs BC in points, its 95 % CI, * when it excludes 0."""
    if not d:
        return "-"
    lo, hi = d["ci"]
    star = " *" if d["significant"] else ""
    return f"{d['delta']:+.1f} [{lo:+.1f}, {hi:+.1f}]{star}"


def _cells(r: dict[str, Any], envs: list[str]) -> list[str]:
    out = []
    for e in envs:
        out.append(_cell(r["cells"][e], r["scores"].get(e, {}).get("success_ci")))
        out.append(_delta(r["vs_bc"].get(e)))
    return out


def _control_lines(lineage: dict[str, Any]) -> list[str]:
    """One line per iteration with a control: the paired delta of the evolved model over it."""
    out = []
    for it in lineage["iterations"]:
        if it.get("vs_control"):
            deltas = ", ".join(f"{e} {_delta(it['vs_control'].get(e))}" for e in lineage["envs"])
            out.append(
                f"{_label(it['iteration'])} vs control {it['iteration']} (as many training steps on D_0 "
                f"alone, i.e. what the explored data added): {deltas}"
            )
    return out


def render_markdown(lineage: Lineage | dict[str, Any]) -> str:
    lineage = _checked(lineage)
    envs = lineage["envs"]
    cols = " | ".join(f"{e} success % [95% CI] (test split) | {e} vs BC (paired)" for e in envs)
    head = "| model | D size | kept | " + cols + " |"
    lines = [head, "|" + " --- |" * (3 + 2 * len(envs))]
    for r in table_rows(lineage):
        cells = _cells(r, envs)
        lines.append(
            f"| {r['model']} | {r['records'] or '-'} | {r['kept'] if r['kept'] is not None else '-'} | "
            + " | ".join(cells)
            + " |"
        )
    n = {e: (lineage["iterations"][0].get("eval") or {}).get(e, {}).get("episodes") for e in envs}
    lines.append("")
    lines.append("Held-out episodes per env: " + ", ".join(f"{e} {n[e]}" for e in envs) + ".")
    lines.append(
        "vs BC: success delta in points on the same held-out items, 95 % paired-bootstrap CI; "
        "* = the CI excludes 0."
    )
    lines += [f"{line}." for line in _control_lines(lineage)]
    return "\n".join(lines) + "\n"


def print_table(lineage: Lineage | dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    lineage = _checked(lineage)
    envs = lineage["envs"]
    table = Table(title=f"AgentEvol - {lineage['run_dir']}")
    for col in ["model", "D size", "kept", *[c for e in envs for c in (f"{e} %", f"{e} vs BC")]]:
        table.add_column(col, justify="right")
    for r in table_rows(lineage):
        cells = _cells(r, envs)
        table.add_row(
            r["model"], str(r["records"] or "-"), "-" if r["kept"] is None else str(r["kept"]), *cells
        )
    Console().print(table)
    for line in _control_lines(lineage):
        Console().print(line)


def plot(lineage: Lineage | dict[str, Any], path: Path) -> Path | None:
    """Success per env per iteration, with BC (iteration 0) and random as dashed baselines."""
    lineage = _checked(lineage)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    envs = lineage["envs"]
    its = [it for it in lineage["iterations"] if it.get("eval")]
    if not its:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, env in enumerate(envs):
        c = colors[i % len(colors)]
        xs = [it["iteration"] for it in its]
        ys = [100 * it["eval"][env]["success_rate"] for it in its]
        lo = [100 * it["eval"][env]["success_ci"][0] for it in its]
        hi = [100 * it["eval"][env]["success_ci"][1] for it in its]
        ax.plot(xs, ys, marker="o", color=c, label=f"{env}: all held-out")
        ax.fill_between(xs, lo, hi, color=c, alpha=0.12)
        tests = [it["eval"][env].get("test_success_rate") for it in its]
        first = its[0]["eval"][env]
        if all(t is not None for t in tests) and first.get("test_episodes") != first.get("episodes"):
            ax.plot(xs, [100 * t for t in tests], marker="s", linestyle="-.", color=c, alpha=0.6,
                    label=f"{env}: test split only")  # fmt: skip
        ax.axhline(ys[0], color=c, linestyle="--", linewidth=1, label=f"{env} BC")
        ctl = [(it["iteration"], it["control"]["eval"][env]) for it in its if it.get("control")]
        if ctl:
            ax.plot([0] + [x for x, _ in ctl], [ys[0]] + [100 * e["success_rate"] for _, e in ctl],
                    marker="x", linestyle=":", color="gray", label=f"{env}: control (D_0 only)")  # fmt: skip
        rnd = (lineage.get("random") or {}).get(env)
        if rnd:
            ax.axhline(100 * rnd["success_rate"], color=c, linestyle=":", linewidth=1, label=f"{env} random")
    ax.set_xlabel("iteration (0 = BC)")
    ax.set_ylabel("held-out success %")
    ax.set_xticks([it["iteration"] for it in its])
    ax.set_ylim(0, 100)
    ax.set_title("AgentEvol: success per iteration (95% CI band)")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
