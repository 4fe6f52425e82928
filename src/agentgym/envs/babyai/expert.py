"""The BabyAI expert: minigrid's `BabyAIBot` turned into our macro vocabulary.

The bot plans in primitive steps with a plan stack that must see every step of the episode, so
the expert keeps a *shadow* copy of the level (same level and seed, so the same world), replays
into it the primitive steps the env took since the last call, and keeps the bot following them
(``bot.replan(action_taken)``) while they agree with its plan. Our macros take other, equally short
paths and jump ahead, and the bot answers an interaction it did not expect with "undo" plans
(close the door again, drop the thing again); then - or when it errs - it is retired and a fresh
bot is built from the sub-instructions still pending and the cells seen so far (the cells of the
text layer: the view cone plus the current room).

To choose a macro the expert rolls a deep copy of (shadow, bot) forward along the bot's own
suggestions up to its next interaction (pick up, drop, toggle) or the end of the mission, and takes:

1. the macro that performs that interaction when its target is in sight (``pick up X``, ``toggle
   and go through D``, ``drop``, ``toggle``; for a box to open, ``go to`` it first);
2. otherwise the navigation macro (``go to``, ``go through``, ``turn``, ``move forward``) that
   lands on the pose the bot reaches *latest* on its way there - but not past the point where the
   bot turns back over its own track (it went to look at something; skipping the look would make
   the next plan send the agent back: an endless back and forth).

Rule 2 always has a candidate (the bot's own first step is a turn or a forward move).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from agentgym.envs.babyai import tasks
from agentgym.envs.babyai.macros import CHECK, DROP, FORWARD, LEFT, PICKUP, RIGHT, TOGGLE
from agentgym.envs.babyai.text import DIRS, Pos, View, front, see

if TYPE_CHECKING:
    from agentgym.envs.babyai.env import BabyAIEnv

Pose = tuple[Pos, int]
_MOVES = (LEFT, RIGHT, FORWARD)
_ROLLOUT = 400  # primitive steps the bot may take in one look-ahead
_REPLAN_BUDGET = 200  # plan pushes allowed in one bot.replan call
FULL_VIEW = False  # True lets the synced bot plan with the whole map (privileged); it solved fewer tasks


def _no_obs() -> None:
    return None


def after(pose: Pose, steps: list[int]) -> Pose | None:
    """The pose after ``steps`` (None if they do more than move)."""
    (x, y), d = pose
    for a in steps:
        if a == LEFT:
            d = (d - 1) % 4
        elif a == RIGHT:
            d = (d + 1) % 4
        elif a == FORWARD:
            x, y = x + DIRS[d][0], y + DIRS[d][1]
        else:
            return None
    return (x, y), d


class _Stack(list):
    """The bot's plan stack with a budget of pushes per `replan` call: a few layouts send
    minigrid's bot into an endless push/pop loop inside one call, which this turns into an error."""

    budget = 10**9

    def append(self, item: Any) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise RuntimeError("the bot's plan does not converge")
        super().append(item)


def _boxed_key(view: View, macros: dict[str, list[int]]) -> tuple[str, str] | None:
    """Open a box in sight that holds the key of a locked door (the bot does not look in boxes)."""
    locked = {c.color for c in view.cells.values() if c is not None and c.type == "door" and c.is_locked}
    for o in view.objects:
        box = view.cells.get(o.pos)
        inside = getattr(box, "contains", None)
        if o.kind == "box" and inside is not None and inside.type == "key" and inside.color in locked:
            if o.pos == front(view) and "toggle" in macros:
                return f"The key for the locked door may be inside the {o.label}; I open it.", "toggle"
            if f"go to {o.label}" in macros:
                return (
                    f"No key is in sight; the {o.label} may hold one, so I walk up to it.",
                    f"go to {o.label}",
                )
    return None


def _key_still_needed(game: Any, carrying: Any) -> bool:
    """Is ``carrying`` a key to a door that is still locked? (Then the bot keeps it.)"""
    if carrying.type != "key":
        return False
    grid = game.grid
    return any(
        c is not None and c.type == "door" and c.is_locked and c.color == carrying.color for c in grid.grid
    )


def pending(instr: Any) -> list[Any]:
    """The mission's sub-instructions not done yet, in the order they must be done."""
    from minigrid.envs.babyai.core.verifier import AfterInstr, AndInstr, BeforeInstr

    if not isinstance(instr, (AndInstr, BeforeInstr, AfterInstr)):  # SeqInstr's kinds (with a_/b_done)
        return [instr]
    parts = [(instr.instr_a, instr.a_done), (instr.instr_b, instr.b_done)]
    if isinstance(instr, AfterInstr):
        parts.reverse()
    return [leaf for sub, done in parts if done != "success" for leaf in pending(sub)]


class BotExpert:
    """Plans with a fresh `BabyAIBot` at every call, on a shadow copy of the level.

    minigrid's bot keeps a plan stack that assumes the agent follows its advice step by step; our
    macros take other (equally short) paths and jump ahead, which sends its step-by-step plan
    repair into undo loops. So the expert keeps only what must persist - the shadow level (the
    same level and seed, replayed with every primitive step the env took) and the cells seen so
    far - and builds a new bot for each decision from the sub-instructions still pending.
    """

    def __init__(self, task_id: int) -> None:
        self.game = tasks.make_task(task_id)
        self.game.gen_obs = _no_obs
        self.seen = np.zeros((self.game.width, self.game.height), dtype=bool)
        self.areas: dict = {}
        self._mark()
        self.synced = 0
        self.bot: Any = None
        self.suggestion: Any = None

    def _mark(self) -> None:
        for x, y in see(self.game, self.areas).visible:
            self.seen[x, y] = True

    def _sync(self, primitives: list[int]) -> None:
        """Replay the env's new primitive steps; the bot follows them while they agree with its plan
        (its stack then keeps multi-step plans: move a blocker, drop a used key); an interaction it
        did not suggest, or an error, retires it and the next call starts a fresh one."""
        for a in primitives[self.synced :]:
            self.game.step(a)
            self._mark()
            if self.bot is None:
                continue
            if a not in _MOVES and a != self.suggestion:
                self.bot = None
                continue
            try:
                self.bot.stack.budget = _REPLAN_BUDGET
                self.suggestion = self.bot.replan(a)
                self.bot.vis_mask |= self.seen
            except Exception:
                self.bot = None
        self.synced = len(primitives)

    def _bot(self, game: Any, full_view: bool = False) -> Any:
        from minigrid.envs.babyai.core.verifier import PickupInstr, PutNextInstr
        from minigrid.utils.baby_ai_bot import BabyAIBot, DropSubgoal, GoNextToSubgoal

        bot = BabyAIBot(game)
        bot.vis_mask = np.ones_like(self.seen) if full_view else self.seen.copy()
        bot.stack = _Stack()
        todo = pending(game.instrs)
        for instr in reversed(todo):
            bot._process_instr(instr)
        carrying = game.carrying
        if carrying is not None and todo:
            first = todo[0]
            if isinstance(first, PutNextInstr) and carrying in first.desc_move.obj_set:
                del bot.stack[-2:]  # already holding the object to move: skip fetching it
            elif isinstance(first, (PickupInstr, PutNextInstr)) and not _key_still_needed(game, carrying):
                bot.stack.append(DropSubgoal(bot))  # hands must be free to pick things up
                bot.stack.append(GoNextToSubgoal(bot, bot._find_drop_pos()))
        return bot

    def _rollout(self, fresh: bool, full_view: bool = False) -> tuple[list[int], list[Pose]]:
        """The bot's next primitive steps up to its next interaction (+2 steps), and the poses."""
        if fresh:
            game = copy.deepcopy(self.game)
            bot = self._bot(game, full_view)
            bot.stack.budget = _REPLAN_BUDGET
            a = bot.replan()
        else:
            game, bot = copy.deepcopy((self.game, self.bot))
            a = self.suggestion
        acts: list[int] = []
        poses: list[Pose] = [((int(game.agent_pos[0]), int(game.agent_pos[1])), int(game.agent_dir))]
        event = None
        for _ in range(_ROLLOUT):
            if a is None or a == game.actions.done:
                break
            _, _, terminated, truncated, _ = game.step(a)
            acts.append(int(a))
            poses.append(((int(game.agent_pos[0]), int(game.agent_pos[1])), int(game.agent_dir)))
            if event is None and a not in _MOVES:
                event = len(acts) - 1
            if terminated or truncated or (event is not None and len(acts) > event + 2):
                break
            bot.stack.budget = _REPLAN_BUDGET
            a = bot.replan(a)
        return acts, poses

    def advise(self, env: BabyAIEnv) -> tuple[str, str]:
        self._sync(env.primitives)
        view = env.view
        assert view is not None
        boxed = _boxed_key(view, env.macros)  # minigrid's bot cannot open boxes (KeyInBox)
        if boxed is not None:
            self.bot = None
            return boxed
        acts: list[int] = []
        poses: list[Pose] = []
        if self.bot is None:
            try:
                self.bot = self._bot(self.game, FULL_VIEW)
                self.bot.stack.budget = _REPLAN_BUDGET
                self.suggestion = self.bot.replan()
            except Exception:
                self.bot = None
        # the synced bot; else a fresh one; else one that plans with the full map
        for fresh, full_view in ((False, False), (True, False), (True, True)):
            if not fresh and self.bot is None:
                continue
            try:
                acts, poses = self._rollout(fresh, full_view)
            except Exception:  # the bot's asserts / a plan that loops: try the next way
                continue
            if acts:
                break
        return choose(view, env.macros, acts, poses)


def _horizon(poses: list[Pose]) -> int:
    """Index of the last pose before the bot walks back over a cell it left (it went to look
    at something and returns): jumping past that point would skip the look, and the next plan
    would send the agent back - an endless back and forth."""
    left: set[Pos] = set()
    for i in range(1, len(poses)):
        prev, cur = poses[i - 1][0], poses[i][0]
        if cur != prev:
            if cur in left:
                return i - 1
            left.add(prev)
    return len(poses) - 1


def _label_at(view: View, pos: Pos) -> Any:
    return next((o for o in view.objects if o.pos == pos), None)


def choose(  # noqa: C901 - a decision list, one branch per situation the bot can be in
    view: View, macros: dict[str, list[int]], acts: list[int], poses: list[Pose]
) -> tuple[str, str]:
    """(thought, macro) following the bot's look-ahead ``acts`` / ``poses``."""
    if not acts:
        for name in ("move forward", "turn left"):
            if name in macros:
                return "I look around to find what the goal needs.", name
        return "I look around.", CHECK
    event = next((i for i, a in enumerate(acts) if a not in _MOVES), len(acts))
    horizon = _horizon(poses)
    here: Pose = (view.pos, view.dir)
    if event <= horizon and event < len(acts):
        a = acts[event]
        (px, py), pd = poses[event]
        target = (px + DIRS[pd][0], py + DIRS[pd][1])
        obj = _label_at(view, target)
        if a == DROP and poses[event] == here and "drop" in macros:
            return "This is where the object I carry should go, so I put it down.", "drop"
        if obj is not None and a == PICKUP and f"pick up {obj.label}" in macros:
            return f"I need the {obj.name}, and I can see it, so I pick it up.", f"pick up {obj.label}"
        if obj is not None and a == TOGGLE and obj.kind == "door":
            nxt = acts[event + 1] if event + 1 < len(acts) else None
            name = f"toggle and go through {obj.label}"
            if name in macros and (nxt == FORWARD or event > 0):
                return f"The way on leads through the {obj.label}; I open it and step in.", name
            if event == 0 and "toggle" in macros:
                return f"I am facing the {obj.label} and need it open.", "toggle"
        if obj is not None and a == TOGGLE and obj.kind == "box":
            if event == 0 and "toggle" in macros:
                return f"I open the {obj.label} to see what is inside.", "toggle"
            if f"go to {obj.label}" in macros:
                return f"The {obj.label} may hold what I need; I walk up to it.", f"go to {obj.label}"
    elif poses:
        obj = _label_at(view, front(View(poses[-1][0], poses[-1][1], set(), [], None)))
        if obj is not None and f"go to {obj.label}" in macros:
            return f"The goal is to reach the {obj.name}, and I can see it.", f"go to {obj.label}"
    # navigation: the macro that lands on the latest pose of the bot's way to its next interaction
    best: tuple[int, int, str] | None = None
    for name, steps in macros.items():
        end = after(here, steps)
        if end is None or not steps:
            continue
        for j in range(min(event, horizon, len(poses) - 1), 0, -1):
            if poses[j] == end:
                if best is None or (j, -len(steps)) > (best[0], best[1]):
                    best = (j, -len(steps), name)
                break
    if best is not None:
        name = best[2]
        if name.startswith("go through"):
            return f"What I need is beyond the {name[len('go through ') :]}; I go through it.", name
        if name.startswith("go to"):
            return f"I head towards the {name[len('go to ') :]}, on my way to what the goal needs.", name
        return "I keep exploring towards what the goal needs.", name
    first = acts[0]
    name = {LEFT: "turn left", RIGHT: "turn right", FORWARD: "move forward"}.get(first, "turn left")
    return "I keep exploring towards what the goal needs.", name if name in macros else "turn left"
