"""The ``agentgym`` command line. Each area adds its commands from its own module
(``register(app)``), keeping heavy imports inside the command functions so ``agentgym --help``
stays fast."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="agentgym",
    help="Build, evaluate and evolve LLM agents across diverse text environments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Modules that contribute commands; each defines register(app: typer.Typer) -> None.
COMMAND_MODULES = [
    "agentgym.cli_envs",  # envs, play, check
    "agentgym.server.cli",  # serve
    "agentgym.agents.cli",  # serve-model
    "agentgym.eval.cli",  # eval, compare, collect
    "agentgym.train.cli",  # train bc, evol
]

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _e:
        if _e.name != _name:  # a real import error inside the module: surface it
            raise
        continue
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
