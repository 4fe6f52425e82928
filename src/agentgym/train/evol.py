"""AgentEvol (paper §4; reference §5.2): explore, keep what was rewarded, merge, re-train, evaluate.

    D_0 = expert trajectories (BC set)          model_0 = train(base, D_0)            "BC"
    for m = 1..M:
        explore: K samples at temperature T per item of the train pool, with model_{m-1}
        keep:    reward >= the env's success threshold, at most ``keep_per_item`` per item
        D_m   = kept_m  U  D_{m-1}
        model_m = train(base, D_m)   (or continue from model_{m-1}: ``retrain_from: last``)
        eval:   model_m on the held-out ids (AgentEval test split + optional extra held-out ids)

Everything goes through the real pieces: the rollout runner with the in-process client, the
expert agent for D_0, the HF backend (one batched ``generate`` per turn across episodes) or vLLM's
offline engine (``backend: vllm``, GPU) for exploration and evaluation, `agentgym.train.sft` for training. On a GPU machine ``base_model`` is a
real model; with none given a tiny Llama is built from the D_0 text (`agentgym.train.tiny`).

Run folder (every stage's output on disk; stages are resumable, see `agentgym.train.stages`)::

    RUN/config.json         the config of the run
    RUN/stages/*.json       one atomic marker per finished stage (pid, time, result)
    RUN/expert/             expert rollouts (a run store)        -> RUN/data/D0.jsonl
    RUN/base/               the tiny base model (when built here)
    RUN/random/             random-agent eval (baseline)
    RUN/iter{m}/explore/    exploration rollouts (m >= 1)        -> RUN/data/D{m}.jsonl
    RUN/iter{m}/model/      the checkpoint (plain HF folder, bc_meta.json inside)
    RUN/iter{m}/eval/       held-out rollouts + results.json
    RUN/iter{m}/control/, control_eval/   the same-compute control (``control: true``): as many
                            optimizer steps with the same settings on D_0 alone, so the table
                            separates "explored data helped" from "more training helped"
    RUN/lineage.json        which data made which checkpoint, from what, and its scores
    RUN/summary.md, RUN/evol.png

Rollouts use `RunStore`, so a kill during exploration or evaluation loses at most the episodes in
flight; a kill during training re-runs that training from scratch (the partial folder is cleared).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentgym.core.types import HeldoutScores, Lineage, Trajectory
from agentgym.data.trajfile import keep_successes, read_records, write_records
from agentgym.train.config import EnvPlan, EvolConfig
from agentgym.train.stages import Stages, write_json_atomic

if TYPE_CHECKING:
    from rich.console import Console

    from agentgym.rollout.progress import ProgressOptions

EVAL_SPLIT = "test"
HELDOUT_SPLIT = "heldout"


@dataclass
class EnvItems:
    """The task ids of one env for each role; checked disjoint from the held-out ids."""

    env: str
    bc: list[int]
    explore: list[int]
    test: list[int]
    extra: list[int]
    kwargs: dict[str, Any] = field(default_factory=dict)
    explore_max_rounds: int | None = None


@dataclass
class EvolResult:
    run_dir: Path
    lineage: dict[str, Any]
    plot: Path | None
    summary: str

    def success(self, env: str, iteration: int, split: str = "all") -> float:
        """Held-out success rate of iteration ``iteration`` (0 = BC) on ``env`` (split all|test)."""
        ev = self.lineage["iterations"][iteration]["eval"][env]
        return ev["success_rate"] if split == "all" else ev["test_success_rate"]

    def random(self, env: str) -> float | None:
        rnd = (self.lineage.get("random") or {}).get(env)
        return rnd["success_rate"] if rnd else None


def plan_items(plan: EnvPlan) -> EnvItems:
    from agentgym.core.registry import spec as env_spec

    spec = env_spec(plan.env)
    train = list(spec.split("train"))
    n_bc = len(train) if plan.bc_items is None else plan.bc_items
    bc = train[:n_bc]
    offset = len(bc) if plan.explore_offset is None else plan.explore_offset
    pool = train[offset:]
    explore = pool if plan.explore_items is None else pool[: plan.explore_items]
    test = list(spec.split(EVAL_SPLIT)) if plan.eval_ids is None else list(plan.eval_ids)
    extra = [i for i in plan.extra_eval_ids if i not in set(test)]
    heldout = set(test) | set(extra)
    leak = heldout & (set(bc) | set(explore))
    if leak:
        raise ValueError(
            f"{plan.env}: held-out eval ids overlap the BC/exploration ids: {sorted(leak)[:10]} "
            "(move explore_offset/explore_items or the extra_eval_ids)"
        )
    if len(bc) < (plan.bc_items or 0):
        raise ValueError(f"{plan.env}: asked for {plan.bc_items} BC items, the train split has {len(train)}")
    return EnvItems(plan.env, bc, explore, test, extra, dict(plan.env_kwargs), plan.explore_max_rounds)


# ------------------------------------------------------------------------------------- rollouts


async def _rollouts(
    items: list[Any],
    agent: Any,
    run_dir: Path,
    *,
    concurrency: int,
    env_kwargs: dict[str, dict],
    max_rounds: dict[str, int] | None = None,
    progress: ProgressOptions | None = None,
) -> list[Trajectory]:
    """Play ``items`` in-process into the run store ``run_dir``, reporting progress like ``eval``
    (a transient bar on a terminal, plain lines in a log: a stage can take an hour)."""
    from agentgym.client.local import AsyncLocalClient
    from agentgym.rollout.progress import RolloutProgress
    from agentgym.rollout.runner import run_episodes
    from agentgym.rollout.store import RunStore

    iteration = run_dir.parent.name if run_dir.parent.name.startswith("iter") else ""
    stage = f"{iteration}/{run_dir.name}" if iteration else run_dir.name
    with (
        RunStore(run_dir) as store,
        RolloutProgress.for_items(f"evol {stage}", items, store, options=progress, transient=True) as report,
    ):
        try:
            return await run_episodes(
                items, agent, AsyncLocalClient(), concurrency=concurrency, store=store,
                env_kwargs=env_kwargs, max_rounds=max_rounds, on_episode=report.episode,
            )  # fmt: skip
        finally:
            await agent.aclose()


def _model_agent(model: Path, temperature: float, cfg: EvolConfig, seed: int) -> Any:
    """The agent that explores / is evaluated: the backend of ``cfg.backend`` on checkpoint ``model``.

    Both backends take the same arguments except the name of the reply-length limit."""
    agent_cls: Callable[..., Any]
    if cfg.backend == "vllm":
        from agentgym.agents.vllm import VLLMAgent as agent_cls

        length = {"max_tokens": cfg.max_new_tokens}
    else:
        from agentgym.agents.hf import HFAgent as agent_cls

        length = {"max_new_tokens": cfg.max_new_tokens}
    return agent_cls(
        str(model),
        temperature=temperature,
        seed=seed,
        max_batch=cfg.concurrency,
        **length,
        **cfg.backend_kwargs,
    )


def _items(env_items: list[EnvItems], role: str, samples: int = 1) -> list[Any]:
    from agentgym.rollout.runner import EpisodeItem

    out = []
    for e in env_items:
        if role == "eval":
            out += [EpisodeItem(e.env, t, EVAL_SPLIT) for t in e.test]
            out += [EpisodeItem(e.env, t, HELDOUT_SPLIT) for t in e.extra]
        else:
            ids = e.bc if role == "bc" else e.explore
            out += [EpisodeItem(e.env, t, "train", 0, s) for t in ids for s in range(samples)]
    return out


def score(trajs: list[Trajectory], envs: list[str]) -> dict[str, Any]:
    """Per env: success rate over all held-out episodes (with Wilson CI) and on the test split alone."""
    from agentgym.eval.metrics import env_metrics

    out = {}
    for env in envs:
        ts = [t for t in trajs if t.env == env]
        if not ts:
            continue
        m = env_metrics(ts, "success")
        test = [t for t in ts if t.split == EVAL_SPLIT]
        out[env] = {
            "episodes": m["episodes"],
            "success_rate": m["success_rate"],
            "success_ci": m["success_ci"],
            "test_episodes": len(test),
            "test_success_rate": sum(t.success for t in test) / len(test) if test else None,
            "invalid_action_rate": m["invalid_action_rate"],
            "mean_rounds": m["mean_rounds"],
            "errors": m["errors"],
        }
    return out


# ------------------------------------------------------------------------------------- the run


class EvolRun:
    """One AgentEvol run folder; `run` executes (or resumes) every stage in order."""

    def __init__(
        self,
        cfg: EvolConfig,
        log: Callable[[str], None] | None = None,
        progress: ProgressOptions | None = None,
    ) -> None:
        self.cfg = cfg
        self.progress = progress  # how rollout stages report (not part of the experiment's config)
        self.dir = Path(cfg.run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._console: Console | None = None
        self.log = log or self._rich_log
        self.stages = Stages(self.dir, self.log)
        self.items = [plan_items(p) for p in cfg.envs]
        self.envs = [e.env for e in self.items]
        self.env_kwargs = {e.env: e.kwargs for e in self.items if e.kwargs}
        self._check_config()

    def _rich_log(self, msg: str) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console()
        self._console.print(msg)

    def _check_config(self) -> None:
        """A resumed run must describe the same experiment (only ``iterations`` may grow, and the
        control may be switched on: both add stages without changing the finished ones)."""
        path = self.dir / "config.json"
        now = json.loads(self.cfg.model_dump_json())
        if path.exists():
            old = json.loads(path.read_text())
            diff = sorted(
                k for k in now if k not in ("iterations", "run_dir", "control") and old.get(k) != now.get(k)
            )
            if diff:
                raise ValueError(
                    f"{self.dir} holds a run with a different config ({', '.join(diff)}); use another run_dir"
                )
        write_json_atomic(path, now)

    # -- stages ---------------------------------------------------------------------------------

    def _collect_bc(self) -> dict[str, Any]:
        out = self.dir / "data" / "D0.jsonl"
        out.parent.mkdir(exist_ok=True)
        if self.cfg.bc_data:
            from agentgym.train.sft import load_records

            records = load_records(self.cfg.bc_data)
            write_records(out, records, fmt="lines")
            return {"records": len(records), "file": str(out), "source": [str(p) for p in self.cfg.bc_data]}
        from agentgym.agents.expert import ExpertAgent

        trajs = asyncio.run(
            _rollouts(
                _items(self.items, "bc"),
                ExpertAgent(),
                self.dir / "expert",
                concurrency=self.cfg.concurrency,
                env_kwargs=self.env_kwargs,
                progress=self.progress,
            )
        )
        kept = keep_successes(trajs, per_item=1, by="reward")
        write_records(out, [t.dump() for t in kept], fmt="lines")
        return {"records": len(kept), "collected": len(trajs), "file": str(out), "source": "expert"}

    def _build_base(self) -> dict[str, Any]:
        if self.cfg.base_model:
            return {"model": self.cfg.base_model, "built": False}
        from agentgym.train.tiny import build_tiny_model, texts_from_records

        out = self.dir / "base"
        shutil.rmtree(out, ignore_errors=True)
        records = read_records(self.dir / "data" / "D0.jsonl")
        t = self.cfg.tiny
        build_tiny_model(
            texts_from_records(records),
            out,
            layers=t.layers,
            hidden=t.hidden,
            heads=t.heads,
            kv_heads=t.kv_heads,
            vocab_size=t.vocab_size,
            max_positions=t.max_positions,
            generic_corpus=t.generic_corpus,
            seed=t.seed,
        )
        return {"model": str(out), "built": True, **json.loads((out / "agentgym_tiny.json").read_text())}

    def _eval_random(self) -> dict[str, Any]:
        from agentgym.agents.random import RandomAgent

        trajs = asyncio.run(
            _rollouts(
                _items(self.items, "eval"),
                RandomAgent(self.cfg.seed),
                self.dir / "random",
                concurrency=self.cfg.concurrency,
                env_kwargs=self.env_kwargs,
                progress=self.progress,
            )
        )
        return score(trajs, self.envs)

    def _explore(self, m: int, model: Path) -> dict[str, Any]:
        agent = _model_agent(model, self.cfg.temperature, self.cfg, seed=self.cfg.seed * 1000 + m)
        trajs = asyncio.run(
            _rollouts(
                _items(self.items, "explore", self.cfg.samples),
                agent,
                self.dir / f"iter{m}" / "explore",
                concurrency=self.cfg.concurrency,
                env_kwargs=self.env_kwargs,
                progress=self.progress,
                max_rounds={e.env: e.explore_max_rounds for e in self.items if e.explore_max_rounds},
            )
        )
        kept = keep_successes(trajs, self.cfg.min_reward, per_item=self.cfg.keep_per_item, by="reward")
        prev = read_records(self.dir / "data" / f"D{m - 1}.jsonl")
        out = self.dir / "data" / f"D{m}.jsonl"
        write_records(out, [t.dump() for t in kept] + prev, fmt="lines")
        per_env = {env: sum(t.env == env for t in kept) for env in self.envs}
        explored = {
            env: sum(t.success for t in trajs if t.env == env) / max(1, sum(t.env == env for t in trajs))
            for env in self.envs
        }
        return {
            "episodes": len(trajs),
            "kept": len(kept),
            "kept_per_env": per_env,
            "explore_success_rate": explored,
            "records": len(kept) + len(prev),
            "file": str(out),
        }

    def _train(self, m: int, init: str, *, control_steps: int | None = None) -> dict[str, Any]:
        """Train model m on D_m from ``init``; with ``control_steps`` the control instead: the same
        settings and number of optimizer steps on D_0 alone (same compute, no explored data)."""
        control = control_steps is not None
        from agentgym.train.sft import train_on_records

        out = self.dir / f"iter{m}" / ("control" if control else "model")
        shutil.rmtree(out, ignore_errors=True)  # a killed training left a partial folder
        data = self.dir / "data" / ("D0.jsonl" if control else f"D{m}.jsonl")
        tcfg = self.cfg.train if m == 0 or self.cfg.evol_train is None else self.cfg.evol_train
        if control:
            tcfg = tcfg.model_copy(update={"max_steps": control_steps})
        summary = train_on_records(read_records(data), init, out, tcfg, meta={"data": [str(data)]})
        return {
            "model": str(out),
            "init": init,
            "data": str(data),
            "examples": summary["examples"],
            "steps": summary["steps"],
            "train_loss": summary["train_loss"],
            "seconds": summary["seconds"],
        }

    def _eval(self, m: int, model: Path, *, control: bool = False) -> dict[str, Any]:
        agent = _model_agent(model, self.cfg.eval_temperature, self.cfg, seed=self.cfg.seed)
        run = self.dir / f"iter{m}" / ("control_eval" if control else "eval")
        trajs = asyncio.run(
            _rollouts(
                _items(self.items, "eval"),
                agent,
                run,
                concurrency=self.cfg.concurrency,
                env_kwargs=self.env_kwargs,
                progress=self.progress,
            )
        )
        result = score(trajs, self.envs)
        write_json_atomic(run / "results.json", HeldoutScores.model_validate(result).dump())
        return result

    def _paired(self, base_run: Path, run: Path) -> dict[str, Any]:
        """Paired success delta (points, ``run`` - ``base_run``) on the shared held-out items, with
        a paired-bootstrap 95 % CI: the honest test of "evolution helped" (see `agentgym compare`)."""
        from agentgym.eval.compare import compare_runs

        cmp = compare_runs(base_run, run, seed=self.cfg.seed)
        out = {}
        for env, row in cmp["envs"].items():
            if "success" in row:
                s = row["success"]
                out[env] = {
                    "items": row["shared_items"],
                    "delta": s["delta"],
                    "ci": s["ci"],
                    "significant": s["significant"],
                    "better": row["b_better"],
                    "worse": row["a_better"],
                }
        return out

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> EvolResult:
        from agentgym.train import evol_report

        cfg = self.cfg
        d0 = self.stages.run("collect_bc", self._collect_bc)
        if d0["records"] == 0:
            raise ValueError("D_0 is empty: the expert solved none of the BC items")
        base = self.stages.run("base", self._build_base)["model"]
        random_scores = self.stages.run("eval_random", self._eval_random) if cfg.random_baseline else None
        lineage: dict[str, Any] = {
            "run_dir": str(self.dir),
            "envs": self.envs,
            "base_model": base,
            "retrain_from": cfg.retrain_from,
            "random": random_scores,
            "iterations": [],
        }
        prev_model: str = base
        prev_control: str = base
        for m in range(cfg.iterations + 1):
            entry: dict[str, Any] = {"iteration": m, "label": "BC" if m == 0 else f"evol {m}"}
            if m == 0:
                entry["records"] = d0["records"]
                entry["kept"] = None
            else:
                ex = self.stages.run(f"explore_{m}", partial(self._explore, m, Path(prev_model)))
                entry.update(explored_with=prev_model, explore=ex, kept=ex["kept"], records=ex["records"])
            init = base if (m == 0 or cfg.retrain_from == "base") else prev_model
            tr = self.stages.run(f"train_{m}", partial(self._train, m, init))
            entry.update(data=tr["data"], init=tr["init"], checkpoint=tr["model"], train=tr)
            entry["eval"] = self.stages.run(f"eval_{m}", partial(self._eval, m, Path(tr["model"])))
            if m > 0:
                entry["vs_bc"] = self._paired(self.dir / "iter0" / "eval", self.dir / f"iter{m}" / "eval")
            if m > 0 and cfg.control:
                c_init = base if cfg.retrain_from == "base" else prev_control
                ct = self.stages.run(
                    f"control_train_{m}",
                    partial(self._train, m, c_init, control_steps=tr["steps"]),
                )
                c_eval = self.stages.run(
                    f"control_eval_{m}", partial(self._eval, m, Path(ct["model"]), control=True)
                )
                iter_dir = self.dir / f"iter{m}"
                entry["control"] = {
                    "checkpoint": ct["model"],
                    "init": ct["init"],
                    "data": ct["data"],
                    "records": d0["records"],
                    "train": ct,
                    "eval": c_eval,
                    "vs_bc": self._paired(self.dir / "iter0" / "eval", iter_dir / "control_eval"),
                }
                entry["vs_control"] = self._paired(iter_dir / "control_eval", iter_dir / "eval")
                prev_control = ct["model"]
            lineage["iterations"].append(entry)
            write_json_atomic(self.dir / "lineage.json", Lineage.model_validate(lineage).dump())
            evol_report.print_table(lineage)
            prev_model = tr["model"]
            if m == 0:
                prev_control = tr["model"]
        summary = evol_report.render_markdown(lineage)
        (self.dir / "summary.md").write_text(summary)
        plot = evol_report.plot(lineage, self.dir / "evol.png")
        return EvolResult(self.dir, lineage, plot, summary)


def run_evol(
    config: EvolConfig | str | Path | dict[str, Any],
    log: Callable[[str], None] | None = None,
    progress: ProgressOptions | None = None,
) -> EvolResult:
    """Run (or resume) AgentEvol from a config object, a YAML path or a dict; ``progress`` says how
    the rollout stages report (default: a bar on a terminal, a line every 30 s in a log)."""
    if isinstance(config, (str, Path)):
        config = EvolConfig.from_yaml(config)
    elif isinstance(config, dict):
        config = EvolConfig.model_validate(config)
    return EvolRun(config, log, progress).run()
