"""The ALFWorld expert: a privileged planner over the engine's PDDL state.

Why not fast-downward: TextWorld's ``replan`` (policy commands) runs a search configuration fixed
in its C library that took ~100 s per game on these problems (20-40 objects) on this machine. The
six task types have fixed shapes, so the plan is written directly from the current PDDL facts
(where each object is, which receptacles are closed), like alfworld's hand-coded expert but with
full knowledge of the state instead of searching receptacles:

    pick:    go to R, [open R], take O from R, go to P, [open P], move O to P
    clean / heat / cool: ... take O, go to sinkbasin / microwave / fridge, clean|heat|cool O with it, ...
    light:   ... take O, go to the receptacle holding the lamp, use LAMP
    two:     the pick plan twice, with two instances of O

The plan is recomputed from the state whenever the episode left it, so the expert also recovers
after other actions. Every generated game is played through by this planner before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_TOOLS = {
    "pick_clean_then_place_in_recep": ("clean", "sinkbasin"),
    "pick_heat_then_place_in_recep": ("heat", "microwave"),
    "pick_cool_then_place_in_recep": ("cool", "fridge"),
}


@dataclass
class World:
    """What the planner needs from the PDDL state, with display names ("mug 1")."""

    location: str | None = None  # receptacle name the agent stands at (None at the start)
    held: str | None = None
    inside: dict[str, str] = field(default_factory=dict)  # object -> receptacle
    otype: dict[str, str] = field(default_factory=dict)  # object -> type ("mug")
    rtype: dict[str, str] = field(default_factory=dict)  # receptacle -> type ("cabinet")
    openable: set[str] = field(default_factory=set)
    opened: set[str] = field(default_factory=set)
    done: dict[str, set[str]] = field(default_factory=dict)  # "clean"/"hot"/"cool" -> objects


def read_world(engine) -> World:
    """Build a `World` from a (demangled) TextWorld PDDL env."""
    inner = engine._wrapped_env if hasattr(engine, "_wrapped_env") else engine
    names = {k: v.name for k, v in inner._entity_infos.items()}
    w = World(done={"clean": set(), "hot": set(), "cool": set()})
    loc_of_recep: dict[str, str] = {}
    agent_loc = None
    for fact in inner._pddl_state.facts:
        args = [a.name for a in fact.arguments]
        n = fact.name
        if n == "inreceptacle":
            w.inside[names[args[0]]] = names[args[1]]
        elif n == "objecttype":
            w.otype[names[args[0]]] = args[1].lower().removesuffix("type")
        elif n == "receptacletype":
            w.rtype[names[args[0]]] = args[1].lower().removesuffix("type")
        elif n == "openable":
            w.openable.add(names[args[0]])
        elif n == "opened":
            w.opened.add(names[args[0]])
        elif n == "holds":
            w.held = names[args[1]]
        elif n == "receptacleatlocation":
            loc_of_recep[names[args[0]]] = args[1]
        elif n == "atlocation":
            agent_loc = args[1]
        elif n in ("isclean", "ishot", "iscool"):
            w.done[n[2:]].add(names[args[0]])
    here = [r for r, loc in loc_of_recep.items() if loc == agent_loc]
    w.location = here[0] if here else None
    return w


def _by_type(w: World, kind: str) -> list[str]:
    return sorted((r for r, t in w.rtype.items() if t == kind), key=_natural)


def _natural(name: str) -> tuple[str, int]:
    base, _, num = name.rpartition(" ")
    return (base, int(num)) if num.isdigit() else (name, 0)


def plan(w: World, task_type: str, obj: str, recep: str | None, toggle: str | None) -> list[str]:
    """Commands from state ``w`` to the goal (types lowercase: ``obj="mug"``, ``recep="coffeemachine"``)."""
    obj, recep, toggle = obj.lower(), (recep or "").lower(), (toggle or "").lower()
    cmds: list[str] = []
    at = w.location
    opened = set(w.opened)

    def go(r: str) -> None:
        nonlocal at
        if at != r:
            cmds.append(f"go to {r}")
            at = r
        if r in w.openable and r not in opened:
            cmds.append(f"open {r}")
            opened.add(r)

    def goal_recep() -> str:
        return _by_type(w, recep)[0]

    def placed(o: str) -> bool:
        return w.rtype.get(w.inside.get(o, ""), "") == recep

    def fetch(candidates: list[str]) -> str:
        o = candidates[0]
        if w.held != o:
            r = w.inside[o]
            go(r)
            cmds.append(f"take {o} from {r}")
        return o

    objs = sorted((o for o, t in w.otype.items() if t == obj), key=_natural)
    # an object already held comes first; objects already in place are done
    objs.sort(key=lambda o: (o != w.held,))
    if task_type == "look_at_obj_in_light":
        lamp = next(o for o, t in sorted(w.otype.items()) if t == toggle)
        o = fetch([o for o in objs if o == w.held or o in w.inside])
        go(w.inside[lamp])
        cmds.append(f"use {lamp}")
        return cmds
    if task_type == "pick_two_obj_and_place":
        todo = [o for o in objs if not placed(o)]
        need = 2 - sum(placed(o) for o in objs)
        for o in todo[:need]:
            fetch([o])
            p = goal_recep()
            go(p)
            cmds.append(f"move {o} to {p}")
        return cmds
    verb, tool_kind = _TOOLS.get(task_type, (None, None))
    state = {"clean": "clean", "heat": "hot", "cool": "cool"}.get(verb or "", "")
    for o in objs:
        if placed(o) and (verb is None or o in w.done[state]):
            return cmds  # goal already holds
    o = fetch([o for o in objs if o == w.held or o in w.inside])
    if verb and tool_kind and o not in w.done[state]:  # both set, or neither
        tool = _by_type(w, tool_kind)[0]
        nonlocal_at = at
        if nonlocal_at != tool:
            cmds.append(f"go to {tool}")
            at = tool
        cmds.append(f"{verb} {o} with {tool}")
    p = goal_recep()
    go(p)
    cmds.append(f"move {o} to {p}")
    return cmds


def thought(command: str, goal: str) -> str:
    """A short rationale for a plan step (the expert's "Thought:")."""
    verb = command.split(" ", 1)[0]
    if verb == "go":
        return f"To {goal}, I should go to {command[6:]}."
    if verb == "open":
        return f"The {command[5:]} is closed; I open it."
    if verb == "take":
        return f"I found what I need; I take {command[5:]}."
    if verb in ("clean", "heat", "cool"):
        return f"Now I {verb} it: {command}."
    if verb == "use":
        return f"I hold the object next to the lamp; I turn on {command[4:]}."
    if verb == "move":
        return f"I put it in place: {command}."
    return f"Next: {command}."
