"""``agentgym serve ENV [ENV ...]``: host envs over HTTP (unified v1 routes + the original routes)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        envs: list[str] = typer.Argument(..., help="Env ids to host (e.g. maze wordle), or 'all'."),
        host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes the server."),
        port: int = typer.Option(8000, help="TCP port."),
        capacity: int = typer.Option(256, help="Live sessions per env; past it, creates get 503."),
        ttl: float = typer.Option(
            600.0,
            help="Seconds of inactivity before a session is reaped (0: never - use it for old trainers "
            "that keep env ids across long phases; on the original routes a reset re-creates a reaped id).",
        ),
        token: str | None = typer.Option(
            None,
            envvar="AGENTGYM_TOKEN",
            help="Require 'Authorization: Bearer TOKEN' (scheme case-insensitive) on every route except "
            "/v1/health, /docs, /redoc and /openapi.json, which stay public.",
        ),
        threads: int = typer.Option(16, help="Worker threads for blocking envs (JVM, TextWorld)."),
        log_level: str = typer.Option("info", help="uvicorn log level (debug, info, warning, error)."),
        access_log: bool = typer.Option(False, help="Log every request (slows the server down)."),
        expert: bool = typer.Option(
            False,
            "--expert",
            help="Turn on the privileged route GET /v1/sessions/{id}/expert (the answer key, used by "
            "`agentgym eval --agent expert --server URL`). Off by default: 403 without it.",
        ),
        max_body_mb: float = typer.Option(1.0, help="Largest request body in MB (413 past it)."),
    ) -> None:
        """Serve envs over HTTP: one process, many envs, sessions with capacity limits and a reaper."""
        import uvicorn
        from rich.console import Console
        from rich.table import Table

        from agentgym.core.registry import list_envs
        from agentgym.server.app import create_app
        from agentgym.server.compat import FAMILIES

        console = Console()
        ids = list_envs(available_only=True) if envs == ["all"] else envs
        try:
            app_ = create_app(
                ids,
                capacity=capacity,
                ttl_s=ttl or None,
                token=token,
                max_workers=threads,
                expert=expert,
                max_body_bytes=int(max_body_mb * (1 << 20)),
            )
        except (KeyError, ImportError, ValueError) as e:
            console.print(f"[red]cannot serve {ids}: {e}[/red]")
            raise typer.Exit(2) from e
        base = f"http://{host}:{port}"
        table = Table(title=f"agentgym env server on {base}", show_lines=False)
        table.add_column("env")
        table.add_column("version")
        table.add_column("blocking")
        table.add_column("original routes (base URL for old clients)")
        mgr = app_.state.sessions
        for env_id, cls in mgr.classes.items():
            compat = f"{base}/{env_id}" if env_id in FAMILIES else "-"
            table.add_row(env_id, cls.spec.version, "thread" if cls.spec.blocking else "inline", compat)
        console.print(table)
        console.print(
            f"v1 routes: {base}/v1/health, /v1/envs, /v1/sessions[/{{id}}/reset|step|observation|...]\n"
            f"docs: {base}/docs   capacity {capacity}/env, idle TTL {ttl:g} s, "
            f"token {'required' if token else 'off'}, expert routes {'ON' if expert else 'off'}",
            markup=False,
        )
        if host not in ("127.0.0.1", "localhost", "::1") and not token:
            console.print("[yellow]warning: listening beyond loopback without --token[/yellow]")
        uvicorn.run(app_, host=host, port=port, log_level=log_level, access_log=access_log)
