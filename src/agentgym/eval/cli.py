"""``agentgym eval``, ``agentgym compare`` and ``agentgym collect``.

``eval`` plays the AgentEval items of some envs with an agent and writes a run folder
(``trajectories.jsonl``, ``results.json``, ``report.md``, ``scores.png``); rerunning the same
command on the same ``--out`` resumes it. ``collect`` plays a split (train by default) with the
expert and keeps the successful episodes as an AgentTraj file. ``compare`` diffs two runs.
Heavy imports (model backends, matplotlib) stay inside the commands so ``agentgym --help`` is fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from agentgym.agents.base import Agent
    from agentgym.client.base import AsyncClient
    from agentgym.core.types import EnvSpec, Trajectory
    from agentgym.rollout.runner import EpisodeItem
    from agentgym.rollout.store import RunStore

AGENTS = ("expert", "random", "openai", "hf")
CONFIG = "config.json"


def _fail(msg: str | BaseException) -> typer.Exit:
    if isinstance(msg, KeyError) and msg.args:  # str(KeyError) would quote the message
        msg = msg.args[0]
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


# ----------------------------------------------------------------------------- agents
def build_agent(
    name: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int = 512,
    concurrency: int = 8,
    seed: int = 0,
) -> Agent:
    """The agent named on the command line; LLM backends are imported only when asked for."""
    if name == "expert":
        from agentgym.agents.expert import ExpertAgent

        return ExpertAgent()
    if name == "random":
        from agentgym.agents.random import RandomAgent

        return RandomAgent(seed=seed)
    if name == "openai":
        if not model:
            raise ValueError(
                "--agent openai needs --model (the served model name, e.g. the vLLM --served-model-name)"
            )
        try:
            from agentgym.agents.openai_compat import OpenAIAgent
        except ImportError as e:
            raise ValueError(f"the OpenAI-compatible backend is not available here ({e})") from e
        var = api_key_env or "OPENAI_API_KEY"
        key = os.environ.get(var)  # None is fine for local servers (vLLM, serve-model) without auth
        if api_key_env and key is None:
            raise ValueError(
                f"--api-key-env {api_key_env}: that environment variable is not set; export it first"
            )
        url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return OpenAIAgent(
            base_url=url,
            model=model,
            api_key=key,
            seed=seed,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            concurrency=concurrency,
        )
    if name == "hf":
        if not model:
            raise ValueError("--agent hf needs --model (a local model folder or hub name)")
        try:
            from agentgym.agents.hf import HFAgent
        except ImportError as e:
            raise ValueError(
                f"the transformers backend is not available here ({e}); pip install 'agentgym[train]'"
            ) from e
        return HFAgent(model, temperature=temperature, top_p=top_p, max_new_tokens=max_tokens, seed=seed)
    raise ValueError(f"unknown agent {name!r}; choose one of {', '.join(AGENTS)}")


# ----------------------------------------------------------------------------- envs
def make_client(servers: list[str] | None) -> AsyncClient:
    if servers:
        from agentgym.client.http import AsyncEnvClient

        return AsyncEnvClient(servers)
    from agentgym.client.local import AsyncLocalClient

    return AsyncLocalClient()


async def resolve_specs(client: AsyncClient, envs: str, remote: bool) -> list[EnvSpec]:
    """``--envs`` -> specs; ``all`` = every env the server(s) host, or every env importable here."""
    from agentgym.core.registry import list_envs
    from agentgym.eval.suite import parse_envs

    if remote:
        available = await client.list_envs()
        if not available:
            raise ValueError("the server(s) host no envs (or none answered); check the --server URLs")
    else:
        available = list_envs()  # "all" keeps those that load (below)
    everything = "all" in [e.strip() for e in envs.split(",")]
    specs = []
    for env in parse_envs(envs, available):
        try:
            specs.append(await client.spec(env))
        except ConnectionError:
            raise
        except Exception as e:  # a missing package or data file of that env
            if not everything:
                raise ValueError(f"env {env!r} cannot be loaded here: {type(e).__name__}: {e}") from e
            typer.secho(f"skipping {env}: {type(e).__name__}: {e}", fg=typer.colors.YELLOW, err=True)
    if not specs:
        raise ValueError("none of the envs could be loaded; see the messages above")
    return specs


def items_from_file(
    path: Path, specs: list[EnvSpec], split: str, limit: int | None, samples: int, seed: int
) -> list[EpisodeItem]:
    """The items of an AgentEval id file that belong to ``specs`` (the first ``limit`` per env)."""
    from agentgym.data.agenttraj import load_eval_items
    from agentgym.rollout.runner import EpisodeItem

    if not path.exists():
        raise ValueError(f"--items {path}: no such file")
    wanted = {s.id for s in specs}
    ids = [it for it in load_eval_items(path) if it.env in wanted]
    per_env: dict[str, list[int]] = {}
    for it in ids:
        per_env.setdefault(it.env, [])
        if it.task_id not in per_env[it.env] and (limit is None or len(per_env[it.env]) < limit):
            per_env[it.env].append(it.task_id)
    if not per_env:
        raise ValueError(f"--items {path}: no item of {', '.join(sorted(wanted))} in it")
    return [
        EpisodeItem(env, t, split, seed, k) for env, ts in per_env.items() for t in ts for k in range(samples)
    ]


# ----------------------------------------------------------------------------- running
def _check_config(out: Path, config: dict[str, Any]) -> None:
    """Refuse to resume a run folder that holds another agent's or split's episodes."""
    path = out / CONFIG
    if path.exists():
        old = json.loads(path.read_text())
        for key in ("agent", "split", "seed"):
            if key in old and old[key] != config[key]:
                raise ValueError(
                    f"{out} holds a run with a different {key} ({old[key]!r} vs {config[key]!r}); "
                    "resume it with the same options or pick another --out"
                )
    path.write_text(json.dumps(config, indent=2) + "\n")


async def play_all(
    items: list[EpisodeItem],
    agent: Agent,
    client: AsyncClient,
    *,
    store: RunStore | None,
    concurrency: int,
    max_rounds: int | None,
    max_context_tokens: int | None,
    progress: bool,
    label: str,
) -> list[Trajectory]:
    """`run_episodes` with a rich progress bar showing episodes done and the live success rate."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentgym.rollout.runner import run_episodes

    done_before = (
        [store.get(it.key) if store.is_done(it.key) else None for it in items] if store is not None else []
    )
    stored = [t for t in done_before if t is not None]
    counts = {
        "done": len(stored),
        "succ": sum(t.success for t in stored),
        "err": sum(t.stop == "error" for t in stored),
    }

    def fields() -> dict[str, str]:
        rate = 100 * counts["succ"] / counts["done"] if counts["done"] else 0.0
        return {"succ": f"success {rate:5.1f}%", "err": f"errors {counts['err']}" if counts["err"] else ""}

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[succ]}"),
        TextColumn("[red]{task.fields[err]}"),
        TimeElapsedColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=len(items), completed=len(stored), **fields())

        def on_episode(t: Trajectory) -> None:
            counts["done"] += 1
            counts["succ"] += int(t.success)
            counts["err"] += int(t.stop == "error")
            bar.update(task, completed=counts["done"], **fields())

        return await run_episodes(
            items,
            agent,
            client,
            concurrency=concurrency,
            store=store,
            max_rounds=max_rounds,
            max_context_tokens=max_context_tokens,
            on_episode=on_episode,
        )


def _summary_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="AgentEval")
    for col in ("env", "metric", "score", "95% CI", "success %", "invalid %", "rounds", "episodes", "errors"):
        table.add_column(col, justify="left" if col in ("env", "metric") else "right")
    for env, m in results["envs"].items():
        table.add_row(
            env,
            m["metric"],
            f"{m['score']:.1f}",
            f"[{m['score_ci'][0]:.1f}, {m['score_ci'][1]:.1f}]",
            f"{100 * m['success_rate']:.1f}",
            f"{100 * m['invalid_action_rate']:.1f}",
            f"{m['mean_rounds']:.2f}",
            str(m["episodes"]),
            str(m["errors"]),
        )
    console = Console()
    if console.width < 110:  # not a wide terminal (e.g. a pipe): do not squeeze the numbers
        console = Console(width=110)
    console.print(table)


# ----------------------------------------------------------------------------- commands
def eval_cmd(
    envs: str = typer.Option(..., "--envs", help="Comma-separated env ids, or 'all'."),
    agent: str = typer.Option("expert", "--agent", help=f"One of: {', '.join(AGENTS)}."),
    out: Path = typer.Option(..., "--out", help="Run folder (created; rerun the same command to resume)."),
    model: str | None = typer.Option(None, "--model", help="Model name (openai) or path (hf)."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Env var holding the API key (default OPENAI_API_KEY)."
    ),
    temperature: float = typer.Option(0.0, "--temperature"),
    top_p: float = typer.Option(1.0, "--top-p"),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Max new tokens per reply."),
    split: str = typer.Option("test", "--split", help="Which split to play (AgentEval = test)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N items of each env."),
    samples: int = typer.Option(1, "--samples", min=1, help="Episodes per item (pass@k for k <= samples)."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Episodes in flight at once."),
    server: list[str] | None = typer.Option(
        None, "--server", help="Env server URL (repeat for a pool); default in-process."
    ),
    seed: int = typer.Option(0, "--seed", help="Env seed and agent sampling seed."),
    max_rounds: int | None = typer.Option(
        None, "--max-rounds", min=1, help="Override every env's round limit."
    ),
    max_context_tokens: int | None = typer.Option(
        None, "--max-context-tokens", min=1, help="Stop an episode (stop=context) past this prompt size."
    ),
    items_file: Path | None = typer.Option(
        None,
        "--items",
        help='An AgentEval id file ([{"item_id"}], original or our ids) instead of the split.',
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run AgentEval: play each env's test items with an agent; write trajectories, results, report, plot."""
    from agentgym.eval.metrics import run_metrics
    from agentgym.eval.report import write_report
    from agentgym.eval.suite import build_suite
    from agentgym.rollout.store import RunLocked, RunStore

    try:
        the_agent = build_agent(
            agent,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            concurrency=concurrency,
            seed=seed,
        )
    except (ValueError, TypeError) as e:
        raise _fail(e) from None

    async def main() -> dict[str, Any]:
        client = make_client(server)
        try:
            specs = await resolve_specs(client, envs, bool(server))
            if items_file is not None:
                items = items_from_file(items_file, specs, split, limit, samples, seed)
            else:
                items = build_suite(specs, split, limit, samples, seed)
            config = {
                "agent": the_agent.describe(),
                "envs": [s.id for s in specs],
                "split": split,
                "limit": limit,
                "samples": samples,
                "seed": seed,
                "servers": server or [],
                "max_rounds": max_rounds,
                "command": shlex.join(["agentgym", *sys.argv[1:]]),
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            with RunStore(out) as store:
                _check_config(out, config)
                trajs = await play_all(
                    items,
                    the_agent,
                    client,
                    store=store,
                    concurrency=concurrency,
                    max_rounds=max_rounds,
                    max_context_tokens=max_context_tokens,
                    progress=progress,
                    label=f"eval {agent}",
                )
            results = run_metrics(trajs, {s.id: s.metric for s in specs}, seed=seed)
            results["run"] = config
            return results
        finally:
            await the_agent.aclose()
            await client.aclose()

    try:
        results = asyncio.run(main())
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted; finished episodes are saved in {out} - rerun the same command to resume", err=True
        )
        raise typer.Exit(130) from None
    except (ValueError, KeyError, RunLocked) as e:
        raise _fail(e) from None
    except ConnectionError as e:
        raise _fail(
            f"{e}. Is the env server up? Start one with: agentgym serve {envs.replace(',', ' ')}"
        ) from None
    paths = write_report(out, results)
    _summary_table(results)
    for kind, path in paths.items():
        if path is not None:
            typer.echo(f"{kind}: {path}")
    if paths["plot"] is None:
        typer.echo("plot skipped: matplotlib is not installed (pip install 'agentgym[plot]')")
    errors = sum(m["errors"] for m in results["envs"].values())
    if errors:
        typer.secho(
            f"{errors} episode(s) stopped with an error (see the 'error' field in {out}/trajectories.jsonl); "
            "fix the cause and rerun the same command to retry just those",
            fg=typer.colors.YELLOW,
            err=True,
        )


def compare_cmd(
    run_a: Path = typer.Argument(..., help="Baseline run folder (A)."),
    run_b: Path = typer.Argument(..., help="Run folder to compare against it (B)."),
    out: Path | None = typer.Option(None, "--out", help="Also write compare.json and compare.md here."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
) -> None:
    """Per-env deltas B - A over the items both runs played, with paired-bootstrap 95% CIs."""
    from agentgym.eval.compare import compare_runs, render_compare

    try:
        cmp = compare_runs(run_a, run_b, seed=seed)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(e) from None
    text = render_compare(cmp)
    typer.echo(text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(cmp, indent=2) + "\n")
        (out / "compare.md").write_text(text)
        typer.echo(f"written: {out / 'compare.json'}, {out / 'compare.md'}")


def collect_cmd(
    envs: str = typer.Option(..., "--envs", help="Comma-separated env ids, or 'all'."),
    out: Path = typer.Option(..., "--out", help="AgentTraj JSON file to write."),
    agent: str = typer.Option("expert", "--agent", help=f"One of: {', '.join(AGENTS)}."),
    model: str | None = typer.Option(None, "--model"),
    base_url: str | None = typer.Option(None, "--base-url"),
    api_key_env: str | None = typer.Option(None, "--api-key-env"),
    temperature: float = typer.Option(0.0, "--temperature"),
    max_tokens: int = typer.Option(512, "--max-tokens"),
    split: str = typer.Option("train", "--split"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N items of each env."),
    concurrency: int = typer.Option(8, "--concurrency", min=1),
    server: list[str] | None = typer.Option(None, "--server", help="Env server URL (repeat for a pool)."),
    seed: int = typer.Option(0, "--seed"),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Keep every episode here too (and resume from it)."
    ),
    original_ids: bool = typer.Option(
        False, "--original-ids", help="Write the original item-id prefixes (sqlgym_, lmrlgym_maze_)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Build an AgentTraj set: play a split and keep the successful episodes (reward >= the env's threshold)."""
    from agentgym.data.agenttraj import save_agenttraj, successful
    from agentgym.eval.suite import build_suite
    from agentgym.rollout.store import RunLocked, RunStore

    try:
        the_agent = build_agent(
            agent,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            temperature=temperature,
            max_tokens=max_tokens,
            concurrency=concurrency,
            seed=seed,
        )
    except (ValueError, TypeError) as e:
        raise _fail(e) from None

    async def main() -> tuple[list[Trajectory], dict[str, float]]:
        client = make_client(server)
        try:
            specs = await resolve_specs(client, envs, bool(server))
            items = build_suite(specs, split, limit, 1, seed)
            store = RunStore(run_dir) if run_dir is not None else None
            try:
                trajs = await play_all(
                    items,
                    the_agent,
                    client,
                    store=store,
                    concurrency=concurrency,
                    max_rounds=None,
                    max_context_tokens=None,
                    progress=progress,
                    label=f"collect {split}",
                )
            finally:
                if store is not None:
                    store.close()
            return trajs, {s.id: s.success_threshold for s in specs}
        finally:
            await the_agent.aclose()
            await client.aclose()

    try:
        trajs, thresholds = asyncio.run(main())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (ValueError, KeyError, RunLocked) as e:
        raise _fail(e) from None
    except ConnectionError as e:
        raise _fail(f"{e}. Is the env server up?") from None
    kept = [t for env, thr in thresholds.items() for t in successful([x for x in trajs if x.env == env], thr)]
    save_agenttraj(kept, out, original_ids=original_ids)
    for env in thresholds:
        n = sum(t.env == env for t in trajs)
        k = sum(t.env == env for t in kept)
        typer.echo(f"{env}: kept {k}/{n} successful episodes")
    typer.echo(f"written: {out} ({len(kept)} trajectories)")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("compare")(compare_cmd)
    app.command("collect")(collect_cmd)
