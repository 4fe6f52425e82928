"""BabyAI texts: the instruction (first human turn) and observation framing (our wording)."""

from __future__ import annotations

INSTRUCTION = """\
You are an agent in a grid world of rooms joined by doors, with keys, balls and boxes in them. \
Each task gives you a goal in words, such as "go to the red ball" or "open the blue door after you \
pick up the grey key"; complete it in as few actions as you can (the reward shrinks with every step \
you take, and you have at most {max_rounds} actions).

You see what is in front of you and a little to the sides: each observation lists the objects in \
sight (with a number when several look alike, nearest first: "red ball 1", "red ball 2") and how \
many steps ahead and to the left or right they are, the nearest obstacles, and what you carry. You \
can carry one object at a time. Doors are open, closed or locked; a locked door opens with a key \
of its color.

Actions (each observation ends with the ones available right now):
- turn left / turn right / move forward
- go to <object> <n>: walk up to an object you can see and face it
- pick up <object> <n>: walk to an object you can see and pick it up
- drop: put down what you carry in the empty cell in front of you
- toggle: open or close the door in front of you, or open the box in front of you
- go through <color> open door <n>: walk into an open door you can see
- toggle and go through <color> closed door <n> / <color> locked door <n>: walk to the door, open \
it (a locked one needs its key in your hands) and step into it
- check available actions

Answer every time with one short thought and exactly one action, in this form:
Thought: <your reasoning>
Action: <one action>

Example:
Observation: Your goal: pick up the blue key
You see: grey ball 1, 2 steps straight ahead; blue key 1, 3 steps ahead and 1 step to your left. \
Nearest obstacles: the grey ball 2 steps ahead, a wall 3 steps to your right. You are not carrying anything.
Available actions: turn left, turn right, move forward, go to grey ball 1, go to blue key 1, \
pick up grey ball 1, pick up blue key 1, check available actions
Thought: The blue key is in sight, so I can walk to it and pick it up.
Action: pick up blue key 1"""


def instruction(max_rounds: int) -> str:
    return INSTRUCTION.format(max_rounds=max_rounds)


def observation(description: str, actions: list[str], goal: str | None = None, note: str = "") -> str:
    head = f"Your goal: {goal}\n" if goal else ""
    lead = f"{note}\n" if note else ""
    return f"{head}{lead}{description}\nAvailable actions: {', '.join(actions)}"
