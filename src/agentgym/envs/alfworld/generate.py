"""Generate ALFWorld household games offline, from what the `alfworld` package ships.

The official games (``alfworld-download``: ALFRED trajectories replayed in AI2-THOR and dumped as
PDDL problems) are not reachable here, so we build the PDDL problem ourselves from the package's
own data and let TextWorld's PDDL engine run it with the package's domain and grammar:

* **Room** - one of the 120 AI2-THOR floor plans in ``alfworld/gen/layouts``: ``FloorPlanN-openable.json``
  gives the real receptacle instances of the room (their THOR ids, e.g. ``Cabinet|+00.68|+00.50|-02.20``,
  one navigation location each) and ``FloorPlanN-objects.json`` the object types found in it.
* **Objects** - the scene's portable object types (those some receptacle can hold, per
  ``alfworld.gen.constants.VAL_RECEPTACLE_OBJECTS``), 1-3 instances each (ALFRED's
  ``MAX_NUM_OF_OBJ_INSTANCES``), each put in a random receptacle that can hold it; lamps stand on a
  table-like receptacle. Properties (cleanable, heatable, coolable, toggleable, sliceable) come
  from ``VAL_ACTION_OBJECTS``, what a receptacle type can hold (``canContain``) from
  ``VAL_RECEPTACLE_OBJECTS``.
* **Task** - task type by id (the six ALFWorld types in turn); targets drawn among what the room
  offers (a sink basin to clean, a microwave to heat, a fridge to cool, a lamp for "look at ... in
  light", a receptacle type that can hold the object); goal = the PDDL goal of
  ``alfworld.gen.goal_library`` and goal text from its templates, put into the grammar where
  ALFWorld puts it (``UNKNOWN GOAL``).
* **Engine** - the game dict (``pddl_domain`` = ``alfred.pddl``, ``grammar`` = ``alfred.twl2``,
  ``pddl_problem``) is what a ``game.tw-pddl`` file holds; TextWorld's `PddlEnv` plays it, so the
  action language, admissible commands and texts are the engine's.

A game is kept only if the expert's plan (`expert`) wins it on the engine in at most ``MAX_PLAN``
steps (so it fits in ALFWorld's 30 rounds); otherwise the next attempt is drawn. Everything is drawn from a RNG
seeded by (task id, attempt), so a task id always gives the same game.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
ROOMS = {
    "kitchen": range(1, 31),
    "livingroom": range(201, 231),
    "bedroom": range(301, 331),
    "bathroom": range(401, 431),
}
ROOMS_FOR_TASK = {  # alfworld.gen.constants.GOALS_VALID
    "pick_and_place_simple": ("kitchen", "livingroom", "bathroom", "bedroom"),
    "pick_two_obj_and_place": ("kitchen", "livingroom", "bathroom", "bedroom"),
    "look_at_obj_in_light": ("livingroom", "bedroom"),
    "pick_clean_then_place_in_recep": ("kitchen", "bathroom"),
    "pick_heat_then_place_in_recep": ("kitchen",),
    "pick_cool_then_place_in_recep": ("kitchen",),
}
LAMPS = ("DeskLamp", "FloorLamp")
LAMP_STANDS = ("Desk", "SideTable", "Dresser", "CoffeeTable", "DiningTable", "Shelf", "TVStand")
MAX_INSTANCES = 3
MAX_OTHER_TYPES = 10
MAX_PLAN = 24
OPENABLE = ("Fridge", "Cabinet", "Microwave", "Drawer", "Safe", "Box")


@dataclass
class GameSpec:
    """What was drawn for one game (kept next to the game file, shown in ``info``)."""

    task_type: str
    scene: int
    obj: str
    recep: str | None = None
    toggle: str | None = None
    goal_text: str = ""
    receptacles: list[str] = field(default_factory=list)
    objects: list[tuple[str, str]] = field(default_factory=list)  # (object id, receptacle id)


@cache
def _alf():
    """The alfworld package data (imported lazily: it pulls in heavy modules)."""
    import alfworld.gen.constants as constants
    import alfworld.gen.goal_library as goals
    from alfworld.info import ALFRED_PDDL_PATH, ALFRED_TWL2_PATH

    layouts = Path(constants.__file__).parent / "layouts"
    return constants, goals, Path(ALFRED_PDDL_PATH).read_text(), Path(ALFRED_TWL2_PATH).read_text(), layouts


@cache
def scene_data(scene: int) -> tuple[dict[str, list[float]], tuple[str, ...]]:
    """(receptacle id -> pose, object types) of ``FloorPlan{scene}``."""
    layouts = _alf()[4]
    receps = json.loads((layouts / f"FloorPlan{scene}-openable.json").read_text())
    objects = tuple(json.loads((layouts / f"FloorPlan{scene}-objects.json").read_text()))
    return receps, objects


def rtype_of(recep_id: str) -> str:
    """THOR id -> receptacle type (``Sink|..|SinkBasin`` is a SinkBasin)."""
    parts = recep_id.split("|")
    return parts[-1] if parts[-1] in ("SinkBasin", "BathtubBasin") else parts[0]


def mangle(name: str) -> str:
    """THOR ids -> PDDL names, as alfworld's generator (`PlannedGameState.fix_pddl_str_chars`)."""
    for a, b in (("-", "_minus_"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_")):
        name = name.replace(a, b)
    return name


def _coord(rng: random.Random) -> str:
    v = rng.uniform(-3, 3)
    return f"{'+' if v >= 0 else '-'}{abs(v):05.2f}"


def draw_spec(task_id: int, attempt: int) -> GameSpec | None:
    """Draw room, targets and object placement for (task id, attempt); None if the drawn room
    cannot host the task (the caller tries the next attempt)."""
    constants, goals, _, _, _ = _alf()
    rng = random.Random(f"alfworld-game/{task_id}/{attempt}")
    task_type = TASK_TYPES[task_id % len(TASK_TYPES)]
    room = rng.choice(ROOMS_FOR_TASK[task_type])
    scene = rng.choice(list(ROOMS[room]))
    receps, scene_objects = scene_data(scene)
    rtypes = {rtype_of(r) for r in receps}
    holdable = constants.VAL_RECEPTACLE_OBJECTS
    act = constants.VAL_ACTION_OBJECTS
    portable = sorted(
        t
        for t in set(scene_objects)
        if any(t in holdable[r] for r in rtypes if r in holdable) and t not in LAMPS
    )
    spec = GameSpec(task_type, scene, obj="")
    need = {
        "pick_clean_then_place_in_recep": ("Cleanable", "SinkBasin"),
        "pick_heat_then_place_in_recep": ("Heatable", "Microwave"),
        "pick_cool_then_place_in_recep": ("Coolable", "Fridge"),
    }.get(task_type)
    candidates = [t for t in portable if need is None or (t in act[need[0]] and need[1] in rtypes)]
    if not candidates:
        return None
    spec.obj = rng.choice(candidates)
    if task_type == "look_at_obj_in_light":
        lamps = [t for t in LAMPS if t in scene_objects]
        stands = sorted(r for r in receps if rtype_of(r) in LAMP_STANDS)
        if not lamps or not stands:
            return None
        spec.toggle = rng.choice(lamps)
    else:
        parents = sorted(
            r
            for r in rtypes
            if r in holdable and spec.obj in holdable[r] and r not in ("SinkBasin", "BathtubBasin")
        )
        if task_type == "pick_heat_then_place_in_recep":
            parents = [r for r in parents if r != "Microwave"]
        if task_type == "pick_cool_then_place_in_recep":
            parents = [r for r in parents if r != "Fridge"]
        if not parents:
            return None
        spec.recep = rng.choice(parents)
    spec.receptacles = sorted(receps)

    # objects: the target type plus up to MAX_OTHER_TYPES others, 1-3 instances each
    others = [t for t in portable if t != spec.obj]
    rng.shuffle(others)
    types = [spec.obj, *sorted(others[:MAX_OTHER_TYPES])]
    for t in types:
        low = 2 if (t == spec.obj and task_type == "pick_two_obj_and_place") else 1
        places = [
            r
            for r in spec.receptacles
            if rtype_of(r) in holdable and t in holdable[rtype_of(r)] and rtype_of(r) != spec.recep
        ]
        if not places:
            if t == spec.obj:
                return None
            continue
        for _ in range(rng.randint(low, max(low, MAX_INSTANCES))):
            r = rng.choice(places)
            spec.objects.append((f"{t}|{_coord(rng)}|{_coord(rng)}|{_coord(rng)}", r))
    if spec.toggle:
        stands = sorted(r for r in receps if rtype_of(r) in LAMP_STANDS)
        spec.objects.append((f"{spec.toggle}|{_coord(rng)}|{_coord(rng)}|{_coord(rng)}", rng.choice(stands)))
    tpl = rng.choice(goals.gdict[task_type]["templates"])
    spec.goal_text = tpl.format(
        obj=spec.obj.lower(), recep=(spec.recep or "").lower(), toggle=(spec.toggle or "").lower(), mrecep=""
    )
    return spec


def problem_pddl(spec: GameSpec) -> str:
    """The PDDL problem for ``spec`` (the ``pddl_problem`` of a game.tw-pddl)."""
    constants, goals, _, _, _ = _alf()
    act = constants.VAL_ACTION_OBJECTS
    holdable = constants.VAL_RECEPTACLE_OBJECTS
    locs = {r: f"loc|{i + 1}" for i, r in enumerate(spec.receptacles)}
    start = "loc|0"
    otypes = sorted({o.split("|")[0] for o, _ in spec.objects})
    rtypes = sorted({rtype_of(r) for r in spec.receptacles})
    decl = ["agent1 - agent"]
    decl += [f"{mangle(o)} - object" for o, _ in spec.objects]
    decl += [f"{mangle(r)} - receptacle" for r in spec.receptacles]
    decl += [f"{mangle(loc)} - location" for loc in [start, *locs.values()]]
    decl += [f"{t}Type - otype" for t in otypes] + [f"{t}Type - rtype" for t in rtypes if t not in otypes]
    init = ["(= (total-cost) 0)", f"(atLocation agent1 {mangle(start)})"]
    for r in spec.receptacles:
        rt = rtype_of(r)
        init.append(f"(receptacleType {mangle(r)} {rt}Type)")
        init.append(f"(receptacleAtLocation {mangle(r)} {mangle(locs[r])})")
        if rt in OPENABLE:
            init.append(f"(openable {mangle(r)})")
    for rt in rtypes:
        for ot in otypes:
            if ot in holdable.get(rt, ()):
                init.append(f"(canContain {rt}Type {ot}Type)")
    for o, r in spec.objects:
        ot, mo = o.split("|")[0], mangle(o)
        init += [
            f"(objectType {mo} {ot}Type)",
            f"(inReceptacle {mo} {mangle(r)})",
            f"(objectAtLocation {mo} {mangle(locs[r])})",
        ]
        if ot in LAMPS:
            init.append(f"(toggleable {mo})")
            continue
        init.append(f"(pickupable {mo})")
        for prop, key in (("cleanable", "Cleanable"), ("heatable", "Heatable"), ("coolable", "Coolable")):
            if ot in act[key]:
                init.append(f"({prop} {mo})")
        if ot in act["Sliceable"]:
            init.append(f"(sliceable {mo})")
        if ot in constants.MOVABLE_RECEPTACLES_SET:
            init.append(f"(isReceptacleObject {mo})")
    goal = goals.gdict[spec.task_type]["pddl"].format(
        obj=spec.obj, recep=spec.recep or "", toggle=spec.toggle or "", mrecep=""
    )
    goal = goal.replace("#", "-").strip()
    if goal.endswith(")"):  # the library's goals close the (define ...) too
        goal = goal[:-1].rstrip()
    return (
        "(define (problem alfworld_generated)\n  (:domain alfred)\n  (:objects\n    "
        + "\n    ".join(decl)
        + "\n  )\n  (:init\n    "
        + "\n    ".join(init)
        + "\n  )\n  "
        + goal
        + "\n  (:metric minimize (total-cost))\n)\n"
    )


def game_dict(spec: GameSpec) -> dict:
    """A ``game.tw-pddl`` payload for ``spec``."""
    _, _, domain, grammar, _ = _alf()
    return {
        "pddl_domain": domain,
        "grammar": grammar.replace("UNKNOWN GOAL", spec.goal_text),
        "pddl_problem": problem_pddl(spec),
        "solvable": True,
        "agentgym": {
            "task_type": spec.task_type,
            "scene": spec.scene,
            "obj": spec.obj,
            "recep": spec.recep,
            "toggle": spec.toggle,
            "goal": spec.goal_text,
        },
    }


_local = threading.local()  # one engine per generating thread (see `make_engine`)


def make_engine():
    """TextWorld's PDDL engine with ALFWorld's name demangler ("cabinet 1"), as alfworld runs it.

    Each engine loads its own copy of fast-downward's 34 MB shared library (copied to a temp file
    and never unloaded), so engines are made once and reused for many games."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    from textworld.envs.pddl import PddlEnv

    infos = textworld.EnvInfos(admissible_commands=True, won=True)
    return AlfredDemangler(PddlEnv(infos))


def plan_length(game: dict) -> int | None:
    """Length of the expert's plan for ``game`` if it wins when played on the engine and has at
    most ``MAX_PLAN`` steps; else None."""
    from agentgym.envs.alfworld.expert import plan, read_world

    meta = game["agentgym"]
    engine = getattr(_local, "engine", None)
    if engine is None:
        engine = _local.engine = make_engine()
    engine.load(game)
    engine.reset()
    try:
        cmds = plan(read_world(engine), meta["task_type"], meta["obj"], meta["recep"], meta["toggle"])
    except (IndexError, KeyError, StopIteration):
        return None
    if not cmds or len(cmds) > MAX_PLAN:
        return None
    state = None
    for cmd in cmds:
        state, _, _ = engine.step(cmd)
    return len(cmds) if state is not None and state["won"] else None
