"""TextCraft texts: the instruction (first human turn) and the observation sentences (our wording)."""

from __future__ import annotations

from collections import Counter

INSTRUCTION = """\
You are crafting items in Minecraft with text commands. Each task starts with a list of crafting \
commands (recipes you may use, some of them not needed) and a goal item. You start with an empty \
inventory.

Actions:
- get <count> <item>: fetch a base material (an item no recipe makes, such as "oak log" or "iron ingot").
- craft <count> <item> using <count> <ingredient>, <count> <ingredient>, ...: craft with a recipe. \
You may run a recipe several times at once by multiplying every count. Where a recipe asks for a \
kind of item (such as "planks" or "logs"), name the exact item you hold (such as "oak planks").
- inventory: list what you hold.

Only items made by no recipe can be fetched. You succeed as soon as the goal item is in your \
inventory; you have at most {max_rounds} actions.

Answer every time with one short thought and exactly one action, in this form:
Thought: <your reasoning>
Action: <one action>

Example:
Crafting commands:
craft 4 oak planks using 1 oak logs
craft 1 crafting table using 4 planks
craft 4 stick using 2 planks

Goal: craft crafting table.

Thought: A crafting table needs 4 planks, and planks come from logs. I fetch an oak log first.
Action: get 1 oak log

Observation: Got 1 oak log.
Thought: One oak log gives 4 oak planks.
Action: craft 4 oak planks using 1 oak log

Observation: Crafted 4 oak planks.
Thought: Now I have the 4 planks the crafting table needs.
Action: craft 1 crafting table using 4 oak planks"""


def instruction(max_rounds: int) -> str:
    return INSTRUCTION.format(max_rounds=max_rounds)


def first_observation(commands: list[str], goal: str) -> str:
    return "Crafting commands:\n" + "\n".join(commands) + f"\n\nGoal: craft {goal}."


def inventory(inv: Counter[str]) -> str:
    held = [(name, n) for name, n in sorted(inv.items()) if n > 0]
    if not held:
        return "Inventory: you are not carrying anything."
    return "Inventory: " + " ".join(f"[{name}] ({n})" for name, n in held)
