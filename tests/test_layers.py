"""The layer contract: which agentgym packages may load which others when they are imported.

DESIGN.md §2 layers the package: `core` is the base every other package builds on, the client
speaks the wire protocol without the server's code, trajectory data does not need the rollout
machinery, and agents do not need the training stack. A violation creeps in as one innocent
module-level import and is only noticed when, say, ``import agentgym.client`` starts pulling in
FastAPI. This test reads the source (AST, no import, no dependency) and follows every import that
runs at import time - module level, including ``try``/``if`` blocks and class bodies, but not
imports inside functions (deliberately lazy) nor under ``if TYPE_CHECKING:`` - transitively, so an
indirect path (client -> x -> server) counts too. A failure names the chain of modules.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"
ROOT = "agentgym"

# (importer package, forbidden package); "*" = every agentgym package but the importer's own.
RULES: list[tuple[str, str]] = [
    ("agentgym.client", "agentgym.server"),
    ("agentgym.data", "agentgym.rollout"),
    ("agentgym.agents", "agentgym.train"),
    ("agentgym.core", "*"),
]

# Known violations waiting for a fix, each (importer module, imported module) with the reason.
# Keep this empty: an entry is a debt with a name, not a permission.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {_module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_nodes(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run when a module with this body is imported."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue  # runs when called, not when imported
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _import_time_nodes(node.body)
            found += _import_time_nodes(node.orelse)
        else:  # class bodies, try/except/else/finally, with, for, while, match: all run at import
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                for child in getattr(node, field, None) or []:
                    inner = child.body if isinstance(child, (ast.ExceptHandler, ast.match_case)) else [child]
                    found += _import_time_nodes(inner)
    return found


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    is_pkg = modules()[importer].name == "__init__.py"
    base = importer.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _with_parents(name: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``: the known modules among them."""
    parts = name.split(".")
    return [m for m in (".".join(parts[: i + 1]) for i in range(len(parts))) if m in modules()]


@cache
def imports_of(module: str) -> frozenset[str]:
    """The agentgym modules that importing ``module`` loads directly."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in _import_time_nodes(tree.body):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = _resolve(module, node)
            # `from pkg import sub` loads pkg.sub when it is a module, else just pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules() else base for a in node.names]
        for t in targets:
            if t == ROOT or t.startswith(ROOT + "."):
                out.update(_with_parents(t))
    out.discard(module)
    return frozenset(out)


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _forbidden(module: str, importer_pkg: str, target: str) -> bool:
    if target == "*":  # any agentgym package but its own (the root package itself is fine)
        return module != ROOT and not _in(module, importer_pkg)
    return _in(module, target)


def violations(importer_pkg: str, target: str) -> list[list[str]]:
    """For each module of ``importer_pkg``, the shortest import chain to a forbidden module, if any."""
    chains = []
    for start in sorted(m for m in modules() if _in(m, importer_pkg)):
        parent: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            mod = queue.popleft()
            if _forbidden(mod, importer_pkg, target):
                chain = [mod]
                while (prev := parent[chain[-1]]) is not None:
                    chain.append(prev)
                chains.append(chain[::-1])
                break  # one chain per module is enough to act on
            for nxt in sorted(imports_of(mod)):
                if nxt not in parent and (mod, nxt) not in ALLOWED:
                    parent[nxt] = mod
                    queue.append(nxt)
    return chains


@pytest.mark.parametrize(("importer", "target"), RULES, ids=[f"{a}-x->{b}" for a, b in RULES])
def test_layer_rule(importer: str, target: str) -> None:
    found = violations(importer, target)
    assert not found, f"{importer} must not import {target} at import time:\n" + "\n".join(
        " -> ".join(c) for c in found
    )


def test_allow_list_entries_are_still_needed() -> None:
    """An allowed import that no longer exists is a stale entry: remove it."""
    stale = [pair for pair in ALLOWED if pair[1] not in imports_of(pair[0])]
    assert not stale, f"stale ALLOWED entries: {stale}"


# ---------------------------------------------------------------- the checker checks what it says
def _fake_tree(tmp_path: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = tmp_path / ROOT / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_checker_follows_import_time_imports_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tree(
        tmp_path,
        {
            "__init__.py": "",
            "core/__init__.py": "",
            "core/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agentgym.server import app\n",
            "core/b.py": "def f():\n    from agentgym.server import app\n",
            "core/c.py": "class C:\n    from ..client import http\n",
            "client/__init__.py": "",
            "client/http.py": "try:\n    from agentgym.util import x\nexcept ImportError:\n    pass\n",
            "util.py": "import agentgym.server.app\n",
            "server/__init__.py": "",
            "server/app.py": "",
        },
    )
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    modules.cache_clear()
    imports_of.cache_clear()
    try:
        # indirect, through a try block: the chain stops at the first forbidden module
        assert violations("agentgym.client", "agentgym.server") == [
            ["agentgym.client.http", "agentgym.util", "agentgym.server"]
        ]
        core = violations("agentgym.core", "*")
        assert core == [["agentgym.core.c", "agentgym.client"]]  # a (TYPE_CHECKING), b (function): fine
    finally:
        modules.cache_clear()
        imports_of.cache_clear()
