"""The ``agentgym`` command line. Each area adds its commands from its own module
(``register(app)``), keeping heavy imports inside the command functions so ``agentgym --help``
stays fast.

Help is click's plain formatter, not typer's rich panels: at 80 columns the rich options table
leaves the help text ~18 characters and cuts long option names and URLs with "…", and it keeps
the docstrings' own line breaks; click wraps each option's help under its name and re-flows
paragraphs to the terminal. `HelpGroup` also lists each command's whole first sentence (click
would cut it at the width with "...").
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import typer
from typer.core import TyperGroup


class HelpGroup(TyperGroup):
    """A command group whose command list shows each command's first paragraph, wrapped."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            text = inspect.cleandoc(cmd.short_help or cmd.help or "").split("\n\n")[0]
            rows.append((name, " ".join(text.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="agentgym",
    help="Build, evaluate and evolve LLM agents across diverse text environments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # plain help (see the module docstring); sub-groups inherit it
    cls=HelpGroup,
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
for _group in app.registered_groups:  # e.g. ``agentgym train``: the same command list
    if _group.typer_instance is not None:
        _group.typer_instance.info.cls = HelpGroup


def main() -> None:
    app()


if __name__ == "__main__":
    main()
