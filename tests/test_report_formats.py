"""results.json and lineage.json as pydantic models: files written before the models keep loading
(tests/formats/*_v1.json were written by agentgym eval / AgentEvol before this change), writers
produce the same bytes, and readers validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentgym.core.types import EvalResults, HeldoutScores, Lineage, Trajectory
from agentgym.eval.compare import compare_runs
from agentgym.eval.report import RESULTS, read_results, write_report
from agentgym.rollout.store import RunStore
from agentgym.train import evol_report

FORMATS = Path(__file__).parent / "formats"


def _v1(name: str) -> dict:
    return json.loads((FORMATS / name).read_text())


@pytest.mark.parametrize(
    ("name", "model"),
    [("results_v1.json", EvalResults), ("lineage_v1.json", Lineage), ("evol_results_v1.json", HeldoutScores)],
)
def test_existing_files_load_and_dump_unchanged(name, model):
    data = _v1(name)
    assert model.model_validate(data).dump() == data


def test_eval_writer_writes_the_same_bytes_and_refuses_a_bad_record(tmp_path):
    results = _v1("results_v1.json")
    write_report(tmp_path, results)
    assert (tmp_path / RESULTS).read_text() == (FORMATS / "results_v1.json").read_text()
    assert isinstance(read_results(tmp_path), EvalResults)
    bad = {**results, "envs": {"maze": {**results["envs"]["maze"], "episodes": "many"}}}
    with pytest.raises(ValidationError, match="episodes"):
        write_report(tmp_path / "bad", bad)


def _run(path: Path, results: str, rewards: list[float]) -> Path:
    with RunStore(path) as store:
        for i, r in enumerate(rewards):
            store.add(Trajectory(item_id=f"babyai_{i}", env="babyai", task_id=i, reward=r, success=r > 0))
    shutil.copy(FORMATS / results, path / RESULTS)
    return path


def test_compare_reads_each_envs_metric_from_an_existing_results_file(tmp_path):
    a = _run(tmp_path / "a", "results_v1.json", [0.5, 0.9])
    b = _run(tmp_path / "b", "results_v1.json", [0.7, 0.9])
    row = compare_runs(a, b)["envs"]["babyai"]
    assert row["metric"] == "reward"  # from results.json (success would make both runs 100)
    assert row["score"]["delta"] == pytest.approx(10.0)
    # an AgentEvol eval folder's results.json has no metrics: success, as before
    c = _run(tmp_path / "c", "evol_results_v1.json", [0.7, 0.9])
    assert isinstance(read_results(c), HeldoutScores)
    assert compare_runs(c, c)["envs"]["babyai"]["metric"] == "success"
    (c / RESULTS).write_text(json.dumps({"envs": {"babyai": {"metric": "percent"}}, "overall": {}}))
    with pytest.raises(ValidationError):
        compare_runs(a, c)


def test_evol_report_reads_an_existing_lineage():
    lineage = _v1("lineage_v1.json")
    validated = Lineage.model_validate(lineage)
    assert validated.iterations[1].control is not None and validated.iterations[0].vs_bc is None
    assert evol_report.render_markdown(validated) == evol_report.render_markdown(lineage)
    broken = {**lineage, "iterations": [{**lineage["iterations"][0], "eval": None}]}
    with pytest.raises(ValidationError, match="eval"):
        evol_report.render_markdown(broken)
