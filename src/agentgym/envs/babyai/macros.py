"""Macro actions -> primitive minigrid actions, by breadth-first search over the visible cells.

The original's macro vocabulary: ``turn left``, ``turn right``, ``move forward``, ``go to <object>
<n>``, ``pick up <object> <n>``, ``go through <color> open door <n>``, ``toggle and go through
<color> closed|locked door <n>`` (both end one step past the door, in the next room, when that
cell is free), ``toggle``, ``drop``, ``go to goal`` and ``check available
actions``. Paths run over cells the agent currently sees (what the observation describes), as the
original, through empty cells and open doors; turning costs a step like moving, so the search is
over (cell, heading) states. `compile_macros` gives every action available now with its primitive
sequence, plus an explanation for each named action that is *not* available now (an object out of
reach, a locked door without its key, ...), which becomes the invalid-action message.
"""

from __future__ import annotations

from collections import deque

from agentgym.envs.babyai.text import DIRS, Pos, View, front, object_name

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = 0, 1, 2, 3, 4, 5
CHECK = "check available actions"
State = tuple[Pos, int]


def _passable(obj: object) -> bool:
    return obj is None or obj.can_overlap()  # type: ignore[attr-defined]


class Paths:
    """Shortest primitive paths from the agent's pose to every reachable visible pose."""

    def __init__(self, view: View) -> None:
        start: State = (view.pos, view.dir)
        free = {p for p in view.visible if _passable(view.cells.get(p))}
        parent: dict[State, tuple[State, int] | None] = {start: None}
        order = deque([start])
        pop, push = order.popleft, order.append
        while order:
            state = pop()
            (x, y), d = state
            nxt = (x + DIRS[d][0], y + DIRS[d][1])
            if nxt in free:
                s = (nxt, d)
                if s not in parent:
                    parent[s] = (state, FORWARD)
                    push(s)
            s = ((x, y), (d - 1) % 4)
            if s not in parent:
                parent[s] = (state, LEFT)
                push(s)
            s = ((x, y), (d + 1) % 4)
            if s not in parent:
                parent[s] = (state, RIGHT)
                push(s)
        self.parent = parent
        # first (= nearest) state facing / standing on each cell, in BFS order
        self.first_facing: dict[Pos, State] = {}
        self.first_on: dict[Pos, State] = {}
        for state in self.parent:
            (x, y), d = state
            self.first_on.setdefault((x, y), state)
            self.first_facing.setdefault((x + DIRS[d][0], y + DIRS[d][1]), state)

    def _path(self, state: State) -> list[int]:
        out = []
        link = self.parent[state]
        while link is not None:
            state, a = link
            out.append(a)
            link = self.parent[state]
        return out[::-1]

    def facing(self, target: Pos) -> list[int] | None:
        """Shortest path to a pose facing ``target`` (None if unreachable)."""
        state = self.first_facing.get(target)
        return None if state is None else self._path(state)

    def onto(self, target: Pos) -> list[int] | None:
        """Shortest path that ends standing on ``target``."""
        state = self.first_on.get(target)
        return None if state is None else self._path(state)


def compile_macros(view: View) -> tuple[dict[str, list[int]], dict[str, str]]:
    """(available action -> primitive steps, unavailable action -> why), in display order."""
    acts: dict[str, list[int]] = {"turn left": [LEFT], "turn right": [RIGHT]}
    why: dict[str, str] = {}
    ahead = view.cells.get(front(view))
    if _passable(ahead):
        acts["move forward"] = [FORWARD]
    else:
        assert ahead is not None  # nothing there is passable
        what = "a wall" if ahead.type == "wall" else f"the {object_name(ahead)[0]}"
        why["move forward"] = f"You cannot move forward: {what} is in front of you."
    paths = Paths(view)
    carrying = view.carrying
    for o in view.objects:
        if o.kind == "goal":
            path = paths.onto(o.pos)
            _offer(acts, why, "go to goal", path, [], "the goal")
            continue
        if o.kind == "lava":
            continue
        face = paths.facing(o.pos)
        _offer(acts, why, f"go to {o.label}", face, [], o.label)
        if o.kind == "door":
            beyond = _beyond(view, o.pos)
            if o.state == "open":
                onto = paths.onto(o.pos)
                step = [FORWARD] if onto is not None and _passable_seen(view, beyond(onto)) else []
                _offer(acts, why, f"go through {o.label}", onto, step, o.label)
            else:
                name = f"toggle and go through {o.label}"
                color = o.name.split()[0]
                if o.state == "locked" and (carrying is None or carrying.type != "key"):
                    why[name] = f"You cannot open the {o.label}: it is locked and you carry no key."
                elif o.state == "locked" and carrying.color != color:
                    why[name] = (
                        f"You cannot open the {o.label}: it needs a {color} key and you carry "
                        f"a {carrying.color} key."
                    )
                else:
                    _offer(acts, why, name, face, [TOGGLE, FORWARD, FORWARD], o.label)
        elif o.kind in ("key", "ball", "box"):
            name = f"pick up {o.label}"
            if carrying is not None:
                why[name] = (
                    f"You cannot pick up the {o.label}: you already carry a {carrying.color} {carrying.type}; drop it first."
                )
            else:
                _offer(acts, why, name, face, [PICKUP], o.label)
    if ahead is not None and ahead.type in ("door", "box"):
        if (
            ahead.type == "door"
            and ahead.is_locked
            and (carrying is None or carrying.color != ahead.color or carrying.type != "key")
        ):
            why["toggle"] = f"The door in front of you is locked: you need a {ahead.color} key to open it."
        else:
            acts["toggle"] = [TOGGLE]
    else:
        why["toggle"] = "There is nothing to toggle in front of you (face a door or a box first)."
    if carrying is None:
        why["drop"] = "You cannot drop anything: you are not carrying anything."
    elif ahead is not None:
        why["drop"] = "You cannot drop here: the cell in front of you is not empty."
    else:
        acts["drop"] = [DROP]
    acts[CHECK] = []
    return acts, why


def _beyond(view: View, door: Pos):  # returns a small closure
    """The cell past ``door`` for a path that steps onto it (same heading)."""

    def cell(path: list[int]) -> Pos:
        d = view.dir
        for a in path:
            d = (d - 1) % 4 if a == LEFT else (d + 1) % 4 if a == RIGHT else d
        return door[0] + DIRS[d][0], door[1] + DIRS[d][1]

    return cell


def _passable_seen(view: View, pos: Pos) -> bool:
    return pos in view.visible and _passable(view.cells.get(pos))


def _offer(
    acts: dict[str, list[int]],
    why: dict[str, str],
    name: str,
    path: list[int] | None,
    tail: list[int],
    what: str,
) -> None:
    if path is None:
        why[name] = f"You cannot reach the {what}: there is no path to it within sight."
    elif name.startswith("go to") and not path and not tail:
        why[name] = (
            f"You are already at the {what}." if what == "the goal" else f"You are already facing the {what}."
        )
    else:
        acts[name] = path + tail
