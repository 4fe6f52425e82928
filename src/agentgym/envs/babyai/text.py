"""Our text layer: what the agent sees, in words, computed once per step from minigrid's own view.

The agent sees what minigrid's partial observation holds (the 7x7 square ahead, walls occluding
what is behind them, open doors letting it look into the next room) plus the rest of the room it
stands in - a room is small and the agent knows its room, so turning around just to look is not
worth a round of a 20-round budget. `View` turns that into absolute cells and named objects: every visible
non-wall object gets a name ``<color> <type>`` (doors ``<color> <open|closed|locked> door``) and a
number among equally named objects, nearest first ("red ball 1", "red ball 2") - the names the
macro actions use. `describe` writes the observation: each object with where it is (steps ahead,
to the left / right), the nearest wall or obstacle ahead, to the left and to the right, and what
the agent carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Pos = tuple[int, int]
DIRS: tuple[Pos, ...] = ((1, 0), (0, 1), (-1, 0), (0, -1))  # minigrid's DIR_TO_VEC: east, south, west, north


@dataclass(frozen=True)
class Seen:
    """A visible object: its name and number, cell, and offset (ahead, right) from the agent."""

    name: str  # "red ball", "yellow locked door", "goal"
    number: int
    pos: Pos
    ahead: int
    right: int
    kind: str  # minigrid type: ball, box, key, door, goal, lava
    state: str = ""  # doors: open / closed / locked

    @property
    def label(self) -> str:
        return f"{self.name} {self.number}"


@dataclass
class View:
    """The agent's current view: visible cells and the objects in them (nearest first)."""

    pos: Pos
    dir: int
    visible: set[Pos]
    objects: list[Seen]
    carrying: Any
    cells: dict[Pos, Any] = field(default_factory=dict)  # visible cell -> WorldObj or None

    def find(self, label: str) -> Seen | None:
        return next((o for o in self.objects if o.label == label), None)


def object_name(obj: Any) -> tuple[str, str]:
    """(name, door state) of a minigrid object."""
    if obj.type == "door":
        state = "locked" if obj.is_locked else "open" if obj.is_open else "closed"
        return f"{obj.color} {state} door", state
    if obj.type in ("goal", "lava"):
        return obj.type, ""
    return f"{obj.color} {obj.type}", ""


def see(env: Any, areas: dict[Pos, frozenset[Pos]] | None = None) -> View:
    """The agent's view of ``env`` (an unwrapped minigrid env): minigrid's own visibility cone
    (which also looks through open doors) plus the whole open area (room) the agent stands in.
    ``areas`` caches the areas of one episode (cell -> its area)."""
    _, vis = env.gen_obs_grid()
    size = env.agent_view_size
    pos = (int(env.agent_pos[0]), int(env.agent_pos[1]))
    fx, fy = DIRS[env.agent_dir]
    rx, ry = -fy, fx
    top = (pos[0] + fx * (size - 1) - rx * (size // 2), pos[1] + fy * (size - 1) - ry * (size // 2))
    grid = env.grid
    visible: set[Pos] = {pos}
    for j in range(size):
        for i in range(size):
            if vis[i, j]:
                x, y = top[0] - fx * j + rx * i, top[1] - fy * j + ry * i
                if 0 <= x < grid.width and 0 <= y < grid.height:
                    visible.add((x, y))
    area = None if areas is None else areas.get(pos)
    if area is None:  # walls and doors never move: an area is computed once per episode
        area = frozenset(_area(grid, pos))
        if areas is not None:
            interior = [p for p in area if (c := grid.get(*p)) is None or c.type not in ("wall", "door")]
            areas.update(dict.fromkeys(interior, area))
    visible |= area
    cells: dict[Pos, Any] = {}
    found: list[tuple[int, int, int, Pos, Any]] = []
    for p in visible:
        obj = grid.get(*p)
        cells[p] = obj
        if obj is not None and obj.type not in ("wall", "floor") and p != pos:
            dx, dy = p[0] - pos[0], p[1] - pos[1]
            ahead, right = dx * fx + dy * fy, dx * rx + dy * ry
            found.append((abs(ahead) + abs(right), -ahead, right, p, obj))
    found.sort(key=lambda t: t[:3])
    counts: dict[str, int] = {}
    objects = []
    for _, neg_ahead, right, p, obj in found:
        name, state = object_name(obj)
        counts[name] = counts.get(name, 0) + 1
        objects.append(Seen(name, counts[name], p, -neg_ahead, right, obj.type, state))
    cells[pos] = None
    return View(pos, int(env.agent_dir), visible, objects, env.carrying, cells)


def _area(grid: Any, start: Pos) -> set[Pos]:
    """The open area around ``start``: cells reachable without crossing a wall or a door (a room,
    or a corridor of rooms without walls between them), plus the walls and doors bounding it."""
    seen = {start}
    todo = [start]
    while todo:
        x, y = todo.pop()
        for dx, dy in DIRS:
            p = (x + dx, y + dy)
            if p in seen or not (0 <= p[0] < grid.width and 0 <= p[1] < grid.height):
                continue
            seen.add(p)
            cell = grid.get(*p)
            if cell is None or cell.type not in ("wall", "door"):
                todo.append(p)
    return seen


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def where(o: Seen) -> str:
    side = f"{_steps(abs(o.right))} to your {'right' if o.right > 0 else 'left'}"
    if o.ahead == 0:
        return side
    if o.right == 0:
        if o.ahead == 1:
            return "right in front of you"
        return f"{_steps(o.ahead)} straight ahead" if o.ahead > 0 else f"{_steps(-o.ahead)} behind you"
    lengthwise = f"{_steps(o.ahead)} ahead" if o.ahead > 0 else f"{_steps(-o.ahead)} behind you"
    return f"{lengthwise} and {side}"


def _blocked(obj: Any) -> str | None:
    """What stops a forward move into a cell holding ``obj`` (None if it can be walked over)."""
    if obj is None or obj.can_overlap():
        return None
    if obj.type == "wall":
        return "a wall"
    name, _ = object_name(obj)
    return f"the {name}"


def obstacles(view: View) -> list[str]:
    """Nearest thing that blocks the way ahead, to the left and to the right (within sight)."""
    fx, fy = DIRS[view.dir]
    out = []
    for label, (dx, dy) in (("ahead", (fx, fy)), ("to your left", (fy, -fx)), ("to your right", (-fy, fx))):
        x, y = view.pos
        for n in range(1, 8):
            x, y = x + dx, y + dy
            if (x, y) not in view.visible:
                break
            what = _blocked(view.cells.get((x, y)))
            if what:
                out.append(f"{what} {_steps(n)} {label}")
                break
    return out


def describe(view: View) -> str:
    """The observation text for ``view``."""
    parts = []
    if view.objects:
        parts.append("You see: " + "; ".join(f"{o.label}, {where(o)}" for o in view.objects) + ".")
    else:
        parts.append("You see no objects, only walls and floor.")
    near = obstacles(view)
    if near:
        parts.append("Nearest obstacles: " + ", ".join(near) + ".")
    if view.carrying is not None:
        parts.append(f"You are carrying a {view.carrying.color} {view.carrying.type}.")
    else:
        parts.append("You are not carrying anything.")
    return " ".join(parts)


def front(view: View) -> Pos:
    fx, fy = DIRS[view.dir]
    return view.pos[0] + fx, view.pos[1] + fy
