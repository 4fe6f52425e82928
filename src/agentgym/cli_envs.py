"""Env commands of the ``agentgym`` CLI: ``envs`` (list), ``play`` (a person plays in the terminal)
and ``check`` (the env checker with a progress bar).

Heavy imports (env modules, the checker) happen inside the commands so ``agentgym --help`` stays
fast; an env whose imports fail on this machine is listed as unavailable rather than crashing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from agentgym.core.env import Env

PLAY_HELP = (
    "Type an action (or a whole 'Thought: ... Action: ...' reply). Commands: :hint (the expert's "
    "reply), :actions (valid actions), :map (a picture, where the env has one), :instruction (the full "
    "prompt), :help, :quit."
)
_BRIEF_LINES = 12


def envs() -> None:
    """List the registered environments: version, max rounds, metric, action format, splits."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from agentgym.core.registry import env_class, list_envs

    # Fits 80 columns: short headers, no borders between columns, only the splits column wraps
    # (between splits); ids and formats never wrap or get cut.
    table = Table(title="agentgym environments", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("env", "ver", "rounds", "metric", "action"):
        table.add_column(col, no_wrap=True, justify="right" if col == "rounds" else "left")
    table.add_column("splits: tasks", overflow="fold", ratio=1)
    missing: list[tuple[str, str]] = []
    for env_id in list_envs():
        try:
            spec = env_class(env_id).spec
        except Exception as e:  # a missing engine or a broken module: report it, keep listing
            missing.append((env_id, _reason(e)))
            table.add_row(env_id, "-", "-", "-", "-", "[red]unavailable[/red] (see below)")
            continue
        splits = ", ".join(f"{name}={len(ids)}" for name, ids in spec.splits.items())  # wraps at ", "
        table.add_row(env_id, spec.version, str(spec.max_rounds), spec.metric, spec.action_format, splits)
    console = Console(highlight=False)
    console.print(table)
    for env_id, reason in missing:
        console.print(f"[red]{env_id}[/red] unavailable: {reason}")


def _reason(e: BaseException) -> str:
    """The root cause in one short line (the registry wraps import errors in a long hint)."""
    root = e.__cause__ or e
    text = str(root).split("\n", 1)[0]
    return f"{type(root).__name__}: {text}"[:120]


def play(
    env: str = typer.Argument(..., help="Env id, e.g. maze."),
    task: int = typer.Option(..., "--task", "-t", help="Task id (see `agentgym envs` for the splits)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Episode seed."),
) -> None:
    """Play an episode yourself: actions are read from stdin, one per line."""
    from rich.console import Console
    from rich.panel import Panel

    from agentgym.core.errors import AgentGymError
    from agentgym.core.registry import make

    console = Console(highlight=False)
    try:
        e = make(env)
        obs = e.reset(task, seed)
    except (AgentGymError, ImportError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    lines = e.instruction().splitlines()
    brief = "\n".join(lines[:_BRIEF_LINES])
    if len(lines) > _BRIEF_LINES:
        brief += f"\n... ({len(lines) - _BRIEF_LINES} more lines: type :instruction)"
    console.print(Panel(brief, title=f"{env} task {task} seed {seed}", expand=False))
    console.print(f"[dim]{PLAY_HELP}[/dim]")
    console.print(f"[bold]Observation:[/bold] {obs.text}")
    total_invalid = 0
    with e:
        while True:
            try:
                line = console.input(f"[bold cyan]{e.rounds + 1}/{e.max_rounds}>[/bold cyan] ").strip()
            except EOFError:
                console.print("\n[yellow]end of input: episode abandoned[/yellow]")
                return
            if not line:
                continue
            if line.startswith(":"):
                if _command(console, e, line):
                    return
                continue
            action = _action_of(e, line)
            if action is None:
                continue
            res = e.step(action)
            total_invalid += bool(res.info.get("invalid_action"))
            tag = " [red](invalid)[/red]" if res.info.get("invalid_action") else ""
            console.print(f"[bold]Observation:[/bold] {res.observation}{tag}")
            console.print(f"[dim]reward {res.reward:g}  done {res.done}[/dim]")
            if res.done:
                why = "terminated" if res.terminated else f"round limit ({e.max_rounds}) reached"
                outcome = "[green]success[/green]" if res.info.get("success") else "[red]no success[/red]"
                console.print(
                    f"Episode over ({why}): {outcome}, final reward {res.reward:g}, "
                    f"{e.rounds} rounds, {total_invalid} invalid."
                )
                return


def _action_of(e: Env, line: str) -> str | None:
    """A typed line is the action itself, unless it is a whole ReAct reply."""
    if "action:" not in line.lower():
        return line
    from agentgym.core.react import parse_reply

    parsed = parse_reply(line.replace("\\n", "\n"), e.spec.action_format)
    return parsed.action if parsed.ok else line


def _command(console: Console, e: Env, line: str) -> bool:
    """Handle a ``:command``; True means quit."""
    from agentgym.core.errors import NoExpert

    cmd = line[1:].strip().lower()
    if cmd in ("quit", "q", "exit"):
        console.print("[yellow]bye[/yellow]")
        return True
    if cmd == "hint":
        try:
            console.print(f"[magenta]expert:[/magenta] {e.expert_reply()}")
        except NoExpert:
            console.print("[yellow]this env has no expert[/yellow]")
    elif cmd == "actions":
        acts = e.available_actions()
        console.print(", ".join(acts) if acts else "[yellow]this env cannot list its actions[/yellow]")
    elif cmd == "map":
        render = getattr(e, "render", None)
        console.print(render() if callable(render) else "[yellow]this env has no picture[/yellow]")
    elif cmd == "instruction":
        console.print(e.instruction())
    elif cmd == "help":
        console.print(PLAY_HELP)
    else:
        console.print(f"[yellow]unknown command {line!r}[/yellow]. {PLAY_HELP}")
    return False


def check(
    env: str = typer.Argument(..., help="Env id, e.g. maze."),
    tasks: int | None = typer.Option(
        None,
        "--tasks",
        "-n",
        help="Run the expert on the first N test tasks (with --server: tasks the determinism check plays, "
        "default 3).",
    ),
    min_expert: float = typer.Option(0.95, "--min-expert", help="Fail below this expert success rate."),
    server: str | None = typer.Option(
        None,
        "--server",
        help="Check a running env server at URL over HTTP instead of the local env: its v1 routes, or "
        "with --original the original AgentGym routes (URL = the base an old client gets, e.g. "
        "http://host:8000/maze).",
    ),
    original: bool = typer.Option(False, "--original", help="With --server: check the original routes."),
    sessions: int | None = typer.Option(
        None, "--sessions", help="With --server: concurrent sessions of the isolation check (default 64)."
    ),
    episodes: int | None = typer.Option(
        None, "--episodes", help="With --server: episodes of the leak check (default 1000; v1 only)."
    ),
    json_out: bool = typer.Option(False, "--json", help="With --server: print the report as JSON."),
    token: str | None = typer.Option(
        None, envvar="AGENTGYM_TOKEN", help="With --server: bearer token of a server started with --token."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="With --server: seconds to wait for each answer (default 120)."
    ),
) -> None:
    """Check an env against the `Env` contract and measure its expert on the test split; or, with
    --server, check a running env server's HTTP protocol (any implementation) for conformance."""
    if server is not None:
        _check_server(server, env, original, tasks, sessions, episodes, json_out, token, timeout)
        return
    if original or json_out or sessions is not None or episodes is not None or timeout is not None:
        typer.echo(
            "error: --original, --sessions, --episodes, --timeout and --json need --server URL", err=True
        )
        raise typer.Exit(2)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from agentgym.core.checker import check_env
    from agentgym.core.registry import env_class

    console = Console(highlight=False)
    try:
        spec = env_class(env).spec
    except (KeyError, ImportError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    if tasks is not None and tasks < 1:
        console.print("[red]error:[/red] --tasks must be at least 1")
        raise typer.Exit(2)
    expert_tasks = spec.split("test")[:tasks] if tasks is not None else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(f"{env}: checks + expert", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        report = check_env(env, expert_tasks=expert_tasks, on_progress=on_progress)

    table = Table(title=f"agentgym check {env} (v{spec.version})")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for r in report.results:
        table.add_row(r.name, "[green]ok[/green]" if r.ok else "[red]FAIL[/red]", r.detail)
    console.print(table)
    failed = not report.ok
    if report.expert_success is not None:
        rate = report.expert_success
        low = rate < min_expert
        colour = "red" if low else "green"
        console.print(
            f"expert success: [{colour}]{rate:.1%}[/{colour}] on {report.expert_episodes} test tasks"
            + (f" (below --min-expert {min_expert:.0%})" if low else "")
        )
        failed = failed or low
    if failed:
        raise typer.Exit(1)


def _check_server(
    server: str,
    env: str,
    original: bool,
    tasks: int | None,
    sessions: int | None,
    episodes: int | None,
    json_out: bool,
    token: str | None,
    timeout: float | None,
) -> None:
    """``check --server``: run the conformance checks; exit 1 on any failed check.

    Plain lines (not a table) when stdout is not a terminal, so logs and ``grep`` see one check
    per line; ``--json`` for programs."""
    import json

    from rich.console import Console
    from rich.table import Table

    from agentgym.server.conformance import Options, check_server

    limits = (
        ("--tasks", tasks, 1),
        ("--sessions", sessions, 1),
        ("--episodes", episodes, 2),
        ("--timeout", timeout, 0.001),
    )
    for name, value, low in limits:
        if value is not None and value < low:
            typer.echo(f"error: {name} must be at least {low}", err=True)
            raise typer.Exit(2)
    defaults = Options()
    opts = Options(
        sessions=sessions or defaults.sessions,
        episodes=episodes or defaults.episodes,
        tasks=tasks or defaults.tasks,
        timeout_s=timeout or defaults.timeout_s,
        token=token,
    )
    console = Console(highlight=False)
    fancy = console.is_terminal and not json_out
    try:
        if fancy:
            with console.status(f"checking {env} on {server}") as status:
                report = check_server(
                    server,
                    env,
                    original=original,
                    options=opts,
                    progress=lambda name: status.update(f"checking {env} on {server}: {name}"),
                )
        else:
            report = check_server(server, env, original=original, options=opts)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    counts = report.counts()
    summary = (
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped "
        f"({report.protocol} routes of {env} at {server})"
    )
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    elif fancy:
        table = Table(title=f"agentgym check --server {server} {env}" + (" --original" if original else ""))
        table.add_column("check", no_wrap=True)
        table.add_column("result", no_wrap=True)
        table.add_column("reason", overflow="fold")
        style = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]", "skip": "[yellow]skip[/yellow]"}
        for c in report.checks:
            table.add_row(c.name, style[c.status], c.reason, end_section=False)
        console.print(table)
        console.print(summary, markup=False)
    else:
        for c in report.checks:
            typer.echo(f"{c.status.upper():<4}  {c.name:<18}  {c.reason}")
        typer.echo(summary)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``envs``, ``play`` and ``check`` to the ``agentgym`` app."""
    app.command("envs")(envs)
    app.command("play")(play)
    app.command("check")(check)
