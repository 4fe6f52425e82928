"""The Minecraft 1.16 crafting graph, built from the PyPI ``minecraft-data`` package.

``minecraft-data`` stores every crafting-table recipe *flattened*: a vanilla recipe that accepts any
plank appears once per plank type (``crafting_table`` has 8 recipes). We fold those back into
*tags*: recipes of one output with the same shape, where one ingredient slot (a class of cells
that always hold the same item) varies over a set of items, get a tag for that set. Sets that look
like a tag (a shared last word - "planks", "slab", "wool" -, a family of logs, or a known vanilla tag)
become one; other alternative sets (red dye from a poppy *or* a beetroot) stay separate recipes,
as in the vanilla files.

Then, as the original TextCraft: single-input ``*_block`` reverse recipes (9 ingots from a block)
are dropped, and recipes closing a cycle are dropped (recipes are added in order of their depth, a
recipe is kept only if its output is not already needed to make one of its inputs).

The graph is read-only and built once per process (`recipe_graph`), shared by every session.
Item names use spaces ("oak planks"), so they survive the ``[A-Za-z0-9, ]`` action filter.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

VERSION = "1.16.2"
"""minecraft-data folder whose recipes the 1.16.x versions share (its dataPaths.json maps 1.16.5 here)."""

# Vanilla tag names for alternative sets whose members share no word to name them by.
_KNOWN_TAGS = {
    frozenset({"blackstone", "cobblestone"}): "stone crafting materials",
    frozenset({"charcoal", "coal"}): "coals",
    frozenset({"soul sand", "soul soil"}): "soul fire base blocks",
}
_LOG_WORDS = {"log", "wood", "stem", "hyphae"}


@dataclass(frozen=True)
class Recipe:
    """``count`` of ``output`` from ``inputs`` ((name, count) pairs; a name may be a tag)."""

    output: str
    count: int
    inputs: tuple[tuple[str, int], ...]

    @property
    def command(self) -> str:
        """The crafting command as shown to the agent."""
        ins = ", ".join(f"{n} {name}" for name, n in self.inputs)
        return f"craft {self.count} {self.output} using {ins}"


@dataclass(frozen=True, eq=False)
class RecipeGraph:
    """Items, tags and recipes; ``depth`` is the minimal crafting depth (0 = base item)."""

    recipes: dict[str, tuple[Recipe, ...]]  # output item -> its recipes
    tags: dict[str, frozenset[str]]  # tag -> member items
    depth: dict[str, int]  # item or tag -> minimal crafting depth
    items: frozenset[str]  # every item name
    used_by: dict[str, tuple[Recipe, ...]]  # item or tag -> recipes taking it as an input

    def is_base(self, name: str) -> bool:
        """Base items can be fetched with ``get``: items without a recipe (never tags)."""
        return name in self.items and name not in self.recipes

    def is_tag(self, name: str) -> bool:
        return name in self.tags

    def satisfies(self, item: str, wanted: str) -> bool:
        """Does ``item`` fill an ingredient slot asking for ``wanted`` (an item or a tag)?"""
        return item == wanted or item in self.tags.get(wanted, ())

    def recipes_for(self, name: str) -> tuple[Recipe, ...]:
        """Recipes making ``name``; for a tag, the recipes of all its members."""
        if name in self.tags:
            return tuple(r for m in sorted(self.tags[name]) for r in self.recipes.get(m, ()))
        return self.recipes.get(name, ())

    def tree(self, goal: str) -> list[Recipe]:
        """Every recipe in ``goal``'s crafting tree (depth-first, each once)."""
        seen: set[str] = set()
        out: list[Recipe] = []

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for r in self.recipes_for(name):
                if r not in out:
                    out.append(r)
                for inp, _ in r.inputs:
                    visit(inp)

        visit(goal)
        return out

    def uses(self, name: str) -> tuple[Recipe, ...]:
        """Recipes that take ``name`` (or a tag it belongs to) as an input."""
        return self.used_by.get(name, ())


def data_dir() -> Path:
    import minecraft_data

    root = Path(minecraft_data.__file__).parent / "data" / "data" / "pc" / VERSION
    if not (root / "recipes.json").exists():
        raise FileNotFoundError(f"minecraft-data has no recipes for pc {VERSION} under {root}")
    return root


def _name(raw: str) -> str:
    return raw.replace("_", " ")


def _tag_name(members: frozenset[str]) -> str | None:
    """A name for an alternative set if it looks like a tag, else None (keep separate recipes)."""
    if members in _KNOWN_TAGS:
        return _KNOWN_TAGS[members]
    words = [m.split() for m in members]
    if all(w[-1] in _LOG_WORDS for w in words):
        common = [t for t in min(words, key=len)[:-1] if t != "stripped" and all(t in w for w in words)]
        return " ".join([*common, "logs"])
    last = {w[-1] for w in words}
    if len(last) == 1:
        word = last.pop()
        return word if word.endswith(("s", "wool")) else word + "s"
    firsts = {w[0] for w in words}
    common = [t for t in min(words, key=len) if all(t in w for w in words)]
    if common and len(firsts) > 1 and len(members) > 2:
        return " ".join(common) + " blocks"  # quartz / purpur families: "quartz blocks"
    return None


def _cells(raw: dict) -> tuple[tuple, list[int | None]]:
    if "inShape" in raw:
        shape = raw["inShape"]
        return ("shaped", len(shape), len(shape[0])), [c for row in shape for c in row]
    return ("shapeless",), list(raw["ingredients"])


def _parse(data: Path) -> tuple[dict[str, list[Recipe]], dict[str, frozenset[str]], set[str]]:
    names = {it["id"]: _name(it["name"]) for it in json.loads((data / "items.json").read_text())}
    raw = json.loads((data / "recipes.json").read_text())
    recipes: dict[str, list[Recipe]] = defaultdict(list)
    tags: dict[str, frozenset[str]] = {}
    for out_id in sorted(raw, key=int):
        output = names[int(out_id)]
        # group this output's recipes by structure: shape + which cells hold the same item
        groups: dict[tuple, list[list[int | None]]] = defaultdict(list)
        for r in raw[out_id]:
            kind, cells = _cells(r)
            label: dict[int, int] = {}
            struct = tuple(None if c is None else label.setdefault(c, len(label)) for c in cells)
            groups[(kind, struct, r["result"]["count"])].append(cells)
        for (_, struct, count), variants in groups.items():
            n_cls = max((s for s in struct if s is not None), default=-1) + 1
            first_pos = [struct.index(c) for c in range(n_cls)]
            cls_count = [struct.count(c) for c in range(n_cls)]
            slot_name: list[str | None] = []
            for pos in first_pos:
                alts = frozenset(names[v[pos]] for v in variants)
                tag = _tag_name(alts) if len(alts) > 1 else None
                if tag is not None:
                    if tags.setdefault(tag, alts) != alts:
                        tag = None  # same name, other members: not a consistent tag, keep variants
                slot_name.append(tag)
            for v in variants:
                inputs: dict[str, int] = {}
                for c in range(n_cls):
                    name = slot_name[c] or names[v[first_pos[c]]]
                    inputs[name] = inputs.get(name, 0) + cls_count[c]
                rec = Recipe(output, count, tuple(inputs.items()))
                if rec not in recipes[output]:
                    recipes[output].append(rec)
    items = set(names.values())
    return recipes, tags, items


def _min_depths(recipes: dict[str, list[Recipe]], tags: dict[str, frozenset[str]], items: set[str]) -> dict:
    """Fixed point of depth(x) = min over recipes of 1 + max depth(input); base items 0."""
    inf = 10**9
    depth: dict[str, int] = {i: (inf if recipes.get(i) else 0) for i in items}
    changed = True
    while changed:
        changed = False
        for tag, members in tags.items():
            d = min(depth.get(m, inf) for m in members)
            if depth.get(tag) != d:
                depth[tag], changed = d, True
        for out, rs in recipes.items():
            if not rs:
                continue
            d = min(1 + max(depth.get(n, inf) for n, _ in r.inputs) for r in rs)
            if d < depth[out]:
                depth[out], changed = d, True
    return depth


def build_graph(data: Path | None = None) -> RecipeGraph:
    recipes, tags, items = _parse(data or data_dir())
    # drop "block -> 9 ingots" recipes (the original's rule) and other reverse recipes out of a
    # block made from the output (honey bottle from a honey block)
    made_from = {out: {n for r in rs for n, _ in r.inputs} for out, rs in recipes.items()}
    for out in list(recipes):
        recipes[out] = [
            r
            for r in recipes[out]
            if not (len(r.inputs) == 1 and r.inputs[0][0].endswith(" block"))
            and not any(n.endswith(" block") and out in made_from.get(n, ()) for n, _ in r.inputs)
        ]
    depth = _min_depths(recipes, tags, items)
    # drop cycles: add recipes shallowest first, skip one whose output its inputs already need
    needs: dict[str, set[str]] = defaultdict(set)  # name -> everything needed to make it

    def closure(name: str) -> set[str]:
        out = set(needs[name])
        for m in tags.get(name, ()):
            out |= {m} | needs[m]
        return out

    order = sorted(
        (r for rs in recipes.values() for r in rs),
        # among recipes caught in a base-less cycle (ingot <-> nuggets) the splitting one comes
        # first, so the ingot stays a base item as in the original's tasks ("get 3 iron ingot")
        key=lambda r: (1 + max(depth.get(n, 10**9) for n, _ in r.inputs), -r.count, r.output, r.command),
    )
    kept: dict[str, list[Recipe]] = defaultdict(list)
    for r in order:
        deps: set[str] = set()
        for n, _ in r.inputs:
            deps |= {n} | closure(n)
        if r.output in deps or any(r.output in tags.get(d, ()) for d in deps):
            continue
        kept[r.output].append(r)
        needs[r.output] |= deps
        for need in needs.values():  # keep the closure transitive
            if r.output in need:
                need |= deps
    final = {out: tuple(rs) for out, rs in kept.items() if rs}
    depth = _min_depths({k: list(v) for k, v in final.items()}, tags, items)
    return RecipeGraph(final, dict(tags), depth, frozenset(items), _uses(final, tags))


def _uses(recipes: dict[str, tuple[Recipe, ...]], tags: dict[str, frozenset[str]]) -> dict:
    index: dict[str, list[Recipe]] = defaultdict(list)
    for out in sorted(recipes):
        for r in recipes[out]:
            for inp, _ in r.inputs:
                index[inp].append(r)
    for tag, members in tags.items():
        for m in members:
            index[m].extend(r for r in index.get(tag, []) if r not in index[m])
    return {k: tuple(v) for k, v in index.items()}


@functools.cache
def recipe_graph() -> RecipeGraph:
    """The process-wide read-only graph (built on first use, ~0.1 s)."""
    return build_graph()
