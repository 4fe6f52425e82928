"""``agentgym eval``, ``agentgym compare`` and ``agentgym collect``.

``eval`` plays the AgentEval items of some envs with an agent and writes a run folder
(``trajectories.jsonl``, ``results.json``, ``report.md``, ``scores.png``); rerunning the same
command on the same ``--out`` resumes it. ``collect`` plays a split (train by default) with the
expert and keeps the successful episodes as an AgentTraj file. ``compare`` diffs two runs.
Heavy imports (model backends, matplotlib) stay inside the commands so ``agentgym --help`` is fast.

Honest exits. A run whose episodes ended with ``stop: "error"`` (a server died, a backend failed)
is not a finished evaluation: its scores count those episodes as failures. So ``eval`` and
``collect`` exit with `EXIT_EPISODE_ERRORS` (3) then, and print how many errored per env and the
exact command that retries them (a resumed run replays only the errored episodes and keeps the
rest). Misconfiguration is caught before any episode (`EXIT_USAGE`, 2): the env servers must answer
``GET /v1/health`` and host the requested envs, and an OpenAI-compatible endpoint must list the
model and answer a 1-token request - otherwise every episode would fail the same way, slowly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agentgym.rollout.progress import DEFAULT_EVERY_S, PROGRESS_EVERY_HELP, PROGRESS_HELP, ProgressOptions

if TYPE_CHECKING:
    from agentgym.agents.base import Agent
    from agentgym.client.base import AsyncClient
    from agentgym.core.types import EnvSpec, Trajectory
    from agentgym.rollout.runner import EpisodeItem
    from agentgym.rollout.store import RunStore

AGENTS = ("expert", "random", "openai", "hf")
CONFIG = "config.json"

EXIT_USAGE = 2
"""Bad options, or a preflight check failed (env server / model endpoint): nothing was played."""
EXIT_EPISODE_ERRORS = 3
"""The run went to the end but some episodes ended with ``stop: "error"``; rerun to retry them."""
EXIT_INTERRUPTED = 130

TIMEOUT_HELP = (
    "Seconds to wait for one model reply (--agent openai). A timed-out reply is retried only on a "
    "server that resumes it (`agentgym serve-model`); elsewhere it ends the episode with an error "
    "naming this setting. On a CPU, allow for a whole batch: --max-tokens tokens of every episode in "
    "flight."
)
CAPACITY_WAIT_HELP = (
    "Seconds to wait for a free slot when every env server is at capacity (503) before an episode "
    "errors; transient failures (a refused connection after contact, 502/504) get a few quick "
    "retries instead."
)


def _fail(msg: str | BaseException) -> typer.Exit:
    if isinstance(msg, KeyError) and msg.args:  # str(KeyError) would quote the message
        msg = msg.args[0]
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    return typer.Exit(EXIT_USAGE)


def command_line(ctx: typer.Context) -> str:
    """The command being run, as a shell line: ``agentgym <cmd>`` plus every option the user set.

    Rebuilt from the parsed parameters rather than ``sys.argv`` so it is right however the CLI was
    started (console script, ``python -m``, a test's CliRunner); options left at their default are
    omitted, so the line is what the user would have typed. Used for the config's record and for
    the "rerun this to retry the errored episodes" hint."""
    parts = ["agentgym", ctx.info_name or ctx.command.name or ""]
    for param in ctx.command.params:
        if param.param_type_name != "option" or param.name is None:
            continue
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name == "DEFAULT":
            continue
        value = ctx.params.get(param.name)
        flag = getattr(param, "is_flag", False)
        secondary = getattr(param, "secondary_opts", [])
        if flag and secondary:
            parts.append(param.opts[0] if value else secondary[0])
        elif flag:
            if value:
                parts.append(param.opts[0])
        elif param.multiple:
            for v in value or ():
                parts += [param.opts[0], str(v)]
        elif value is not None:
            parts += [param.opts[0], str(value)]
    return shlex.join(parts)


def error_summary(trajs: list[Trajectory], retry: str, *, note: str = "") -> list[str] | None:
    """The lines to print when episodes errored (None when none did): how many per env, the most
    common errors, and the command that retries them."""
    from collections import Counter

    errored = [t for t in trajs if t.stop == "error"]
    if not errored:
        return None
    per_env = Counter(t.env for t in errored)
    total = Counter(t.env for t in trajs)
    envs = ", ".join(f"{env} {n}/{total[env]}" for env, n in per_env.items())
    lines = [f"{len(errored)} of {len(trajs)} episodes ended with an error ({envs})"]
    # group by message with session ids blanked, so "the server died" is one line, not one per session
    causes = Counter(
        re.sub(r"\b[0-9a-f]{32}\b", "<id>", (t.error or "unknown error").splitlines()[0])[:240]
        for t in errored
    )
    for cause, n in causes.most_common(3):
        lines.append(f"  {n} x {cause}")
    lines.append(f"retry the errored episodes{note}: {retry}")
    return lines


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
    timeout: float = 120.0,
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
        url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not url:  # no silent default: a local run must not send prompts to api.openai.com
            raise ValueError(
                "--agent openai needs --base-url (the OpenAI-compatible endpoint, e.g. "
                "http://127.0.0.1:8000/v1 for vLLM or `agentgym serve-model`, https://api.openai.com/v1 "
                "for OpenAI) or the OPENAI_BASE_URL environment variable"
            )
        return OpenAIAgent(
            base_url=url,
            model=model,
            api_key=key,
            seed=seed,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            concurrency=concurrency,
            timeout=timeout,
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
def make_client(servers: list[str] | None, capacity_wait_s: float = 300.0) -> AsyncClient:
    """The env client: HTTP to ``servers`` (waiting up to ``capacity_wait_s`` for a free slot), or
    in-process without servers."""
    if servers:
        from agentgym.client.http import AsyncEnvClient

        return AsyncEnvClient(servers, capacity_wait_s=capacity_wait_s)
    from agentgym.client.local import AsyncLocalClient

    return AsyncLocalClient()


async def preflight_servers(client: AsyncClient, envs: str) -> list[str]:
    """Before any episode: every ``--server`` answers ``GET /v1/health`` and the requested envs are
    hosted. Returns the lines to print; raises ValueError naming the URL and what to do.

    A server of a pool that does not answer is skipped with a warning (the pool is built to ride out
    a dead member); none answering, or an env no live server hosts, stops the run here rather than
    after every episode failed on it."""
    from agentgym.client.http import AsyncEnvClient

    if not isinstance(client, AsyncEnvClient):
        return []
    health = await client.health()
    up: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for url, answer in health.items():
        if isinstance(answer, dict) and isinstance(answer.get("envs"), dict):
            up[url] = answer
        elif isinstance(answer, dict):
            problems[url] = f"{url} answered GET /v1/health without an env list: is it an `agentgym serve`?"
        else:
            problems[url] = str(answer)
    if not up:
        raise ValueError("; ".join(problems.values()))
    lines = [f"warning: skipping {msg}" for msg in problems.values()]
    hosted: dict[str, list[str]] = {}
    for url, answer in up.items():
        for env in answer["envs"]:
            hosted.setdefault(env, []).append(url)
    names = [e.strip() for e in envs.split(",") if e.strip()]
    if "all" not in names:
        missing = [n for n in names if n not in hosted]
        if missing:
            raise ValueError(
                f"unknown env(s) {', '.join(missing)}: not hosted by {', '.join(up)} "
                f"(hosted: {', '.join(sorted(hosted)) or 'none'}); start a server for them with: "
                f"agentgym serve {' '.join(missing)}"
            )
    for url, answer in up.items():
        envs_here = ", ".join(f"{e} {v['sessions']}/{v['capacity']}" for e, v in answer["envs"].items())
        lines.append(f"env server {url}: up (sessions/capacity: {envs_here})")
    return lines


async def probe_expert(client: AsyncClient, items: list[EpisodeItem]) -> None:
    """``--agent expert`` over HTTP needs the servers' privileged expert route, which a server only
    turns on when asked (``agentgym serve --expert``). Ask it once per env, on the first item, so a
    server without it stops the run here instead of erroring every episode."""
    from agentgym.client.http import AsyncEnvClient
    from agentgym.core.errors import AgentGymError

    if not isinstance(client, AsyncEnvClient):
        return
    first: dict[str, EpisodeItem] = {}
    for it in items:
        first.setdefault(it.env, it)
    for env, it in first.items():
        session = await client.session(env)
        try:
            await session.reset(it.task_id, it.seed)
            await session.expert_reply()
        except AgentGymError as e:
            raise ValueError(
                f"--agent expert: the env server cannot give {env}'s expert replies ({e}); "
                "start it with `agentgym serve --expert ...` or pick another --agent"
            ) from e
        finally:
            await session.close()


async def preflight_agent(agent: Agent) -> list[str]:
    """Before any episode: an OpenAI-compatible endpoint is reachable, lists the model, answers."""
    from agentgym.agents.base import AgentError

    check = getattr(agent, "preflight", None)
    if check is None:
        return []
    try:
        return [f"model endpoint {await check()}"]
    except AgentError as e:
        raise ValueError(str(e)) from e


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
    ids = load_eval_items(path, only=wanted)  # other envs' ids (even unsupported ones) are skipped
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
    progress: ProgressOptions,
    label: str,
) -> list[Trajectory]:
    """`run_episodes` reporting its progress (`RolloutProgress`: a bar on a terminal, plain lines
    with the success rate, rate and ETA in a log)."""
    from agentgym.rollout.progress import RolloutProgress
    from agentgym.rollout.runner import run_episodes

    with RolloutProgress.for_items(label, items, store, options=progress) as report:
        return await run_episodes(
            items,
            agent,
            client,
            concurrency=concurrency,
            store=store,
            max_rounds=max_rounds,
            max_context_tokens=max_context_tokens,
            on_episode=report.episode,
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
    ctx: typer.Context,
    envs: str = typer.Option(..., "--envs", help="Comma-separated env ids, or 'all'."),
    agent: str = typer.Option("expert", "--agent", help=f"One of: {', '.join(AGENTS)}."),
    out: Path = typer.Option(..., "--out", help="Run folder (created; rerun the same command to resume)."),
    model: str | None = typer.Option(None, "--model", help="Model name (openai) or path (hf)."),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (required for --agent openai "
        "unless OPENAI_BASE_URL is set).",
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Env var holding the API key (default OPENAI_API_KEY)."
    ),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature (0 = greedy)."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling: keep this probability mass."),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Max new tokens per reply."),
    split: str = typer.Option("test", "--split", help="Which split to play (AgentEval = test)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N items of each env."),
    samples: int = typer.Option(1, "--samples", min=1, help="Episodes per item (pass@k for k <= samples)."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Episodes in flight at once."),
    server: list[str] | None = typer.Option(
        None, "--server", help="Env server URL (repeat for a pool); default in-process."
    ),
    capacity_wait: float = typer.Option(300.0, "--capacity-wait", min=0, help=CAPACITY_WAIT_HELP),
    timeout: float = typer.Option(120.0, "--timeout", min=0.001, help=TIMEOUT_HELP),
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
    preflight: bool = typer.Option(
        True,
        "--preflight/--no-preflight",
        help="Check the env servers (health, hosted envs, expert route for --agent expert) and the "
        "model endpoint (model listed, a 1-token reply) before any episode.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    progress_every: float = typer.Option(
        DEFAULT_EVERY_S, "--progress-every", min=0, help=PROGRESS_EVERY_HELP
    ),
) -> None:
    """Run AgentEval: play each env's test items with an agent; write trajectories, results, report, plot.

    Exit codes: 0 every episode ended normally; 2 bad options or a failed preflight check (nothing
    was played); 3 some episodes ended with an error - the summary names how many per env and the
    command that retries just those (finished episodes are kept); 130 interrupted (rerun the same
    command to resume).
    """
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
            timeout=timeout,
        )
    except (ValueError, TypeError) as e:
        raise _fail(e) from None
    command = command_line(ctx)
    _announce_agent(agent, the_agent, base_url)

    async def main() -> tuple[dict[str, Any], list[Trajectory]]:
        client = make_client(server, capacity_wait)
        try:
            if preflight:
                _echo_lines(await preflight_servers(client, envs))
                _echo_lines(await preflight_agent(the_agent))
            specs = await resolve_specs(client, envs, bool(server))
            if items_file is not None:
                items = items_from_file(items_file, specs, split, limit, samples, seed)
            else:
                items = build_suite(specs, split, limit, samples, seed)
            if preflight and agent == "expert":
                await probe_expert(client, items)
            config = {
                "agent": the_agent.describe(),
                "envs": [s.id for s in specs],
                "split": split,
                "limit": limit,
                "samples": samples,
                "seed": seed,
                "servers": server or [],
                "max_rounds": max_rounds,
                "command": command,
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
                    progress=ProgressOptions(progress, progress_every),
                    label=f"eval {agent}",
                )
            results = run_metrics(trajs, {s.id: s.metric for s in specs}, seed=seed)
            results["run"] = config
            return results, trajs
        finally:
            await the_agent.aclose()
            await client.aclose()

    try:
        results, trajs = asyncio.run(main())
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted; finished episodes are saved in {out} - rerun the same command to resume: "
            f"{command}",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
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
    summary = error_summary(trajs, command, note=" (finished episodes are kept)")
    if summary:
        summary.insert(
            1, f"  the scores above count them as failures; details: 'error' in {out}/trajectories.jsonl"
        )
        _echo_lines(summary, color=typer.colors.YELLOW)
        raise typer.Exit(EXIT_EPISODE_ERRORS)


def _announce_agent(name: str, agent: Agent, base_url: str | None) -> None:
    """Say which model endpoint is used and where its URL came from (a flag or the environment)."""
    url = getattr(agent, "base_url", None)
    if name == "openai" and url:
        source = "--base-url" if base_url else "OPENAI_BASE_URL"
        typer.echo(f"model endpoint: {url} (from {source}), model {getattr(agent, 'model', '?')!r}")


def _echo_lines(lines: list[str], color: str | None = None) -> None:
    for line in lines:
        if line.startswith("warning:"):
            typer.secho(line, fg=typer.colors.YELLOW, err=True)
        else:
            typer.secho(line, fg=color)


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
    ctx: typer.Context,
    envs: str = typer.Option(..., "--envs", help="Comma-separated env ids, or 'all'."),
    out: Path = typer.Option(..., "--out", help="AgentTraj JSON file to write."),
    agent: str = typer.Option("expert", "--agent", help=f"One of: {', '.join(AGENTS)}."),
    model: str | None = typer.Option(None, "--model", help="Model name (openai) or path (hf)."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible endpoint (or set OPENAI_BASE_URL)."
    ),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Env var holding the API key (default OPENAI_API_KEY)."
    ),
    temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature (0 = greedy)."),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Max new tokens per reply."),
    split: str = typer.Option("train", "--split", help="Which split to play (AgentTraj = train)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N items of each env."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Episodes in flight at once."),
    server: list[str] | None = typer.Option(None, "--server", help="Env server URL (repeat for a pool)."),
    capacity_wait: float = typer.Option(300.0, "--capacity-wait", min=0, help=CAPACITY_WAIT_HELP),
    timeout: float = typer.Option(120.0, "--timeout", min=0.001, help=TIMEOUT_HELP),
    seed: int = typer.Option(0, "--seed", help="Env seed and agent sampling seed."),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Keep every episode here too (and resume from it)."
    ),
    original_ids: bool = typer.Option(
        False, "--original-ids", help="Write the original item-id prefixes (sqlgym_, lmrlgym_maze_)."
    ),
    preflight: bool = typer.Option(
        True, "--preflight/--no-preflight", help="Check the env servers and model endpoint first."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    progress_every: float = typer.Option(
        DEFAULT_EVERY_S, "--progress-every", min=0, help=PROGRESS_EVERY_HELP
    ),
) -> None:
    """Build an AgentTraj set: play a split and keep the successful episodes (reward >= the env's threshold).

    Exit codes: 0 every episode ended normally; 2 bad options or a failed preflight check; 3 some
    episodes ended with an error (the file holds the successful ones of the rest; the summary gives
    the command that retries them - with --run-dir only the errored episodes are replayed).
    """
    from agentgym.data.agenttraj import save_agenttraj
    from agentgym.data.trajfile import keep_successes
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
            timeout=timeout,
        )
    except (ValueError, TypeError) as e:
        raise _fail(e) from None
    command = command_line(ctx)
    _announce_agent(agent, the_agent, base_url)

    async def main() -> tuple[list[Trajectory], dict[str, float]]:
        client = make_client(server, capacity_wait)
        try:
            if preflight:
                _echo_lines(await preflight_servers(client, envs))
                _echo_lines(await preflight_agent(the_agent))
            specs = await resolve_specs(client, envs, bool(server))
            items = build_suite(specs, split, limit, 1, seed)
            if preflight and agent == "expert":
                await probe_expert(client, items)
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
                    progress=ProgressOptions(progress, progress_every),
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
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (ValueError, KeyError, RunLocked) as e:
        raise _fail(e) from None
    except ConnectionError as e:
        raise _fail(f"{e}. Is the env server up?") from None
    kept = keep_successes(trajs, thresholds, per_item=1, by="success")  # trajs come env by env
    save_agenttraj(kept, out, original_ids=original_ids)
    for env in thresholds:
        n = sum(t.env == env for t in trajs)
        k = sum(t.env == env for t in kept)
        typer.echo(f"{env}: kept {k}/{n} successful episodes")
    typer.echo(f"written: {out} ({len(kept)} trajectories)")
    note = (
        " (finished episodes are kept in --run-dir)"
        if run_dir is not None
        else " (all of them are replayed: add --run-dir DIR to keep finished episodes across retries)"
    )
    summary = error_summary(trajs, command, note=note)
    if summary:
        _echo_lines(summary, color=typer.colors.YELLOW)
        raise typer.Exit(EXIT_EPISODE_ERRORS)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("compare")(compare_cmd)
    app.command("collect")(collect_cmd)
