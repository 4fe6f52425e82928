"""The SciWorld instruction (first human turn): our own wording of the ScienceWorld action set."""

INSTRUCTION = """You are an agent in ScienceWorld, a text simulation of a house with rooms such as a \
kitchen, a workshop, a greenhouse, a foundry and the outside. You will be given a science task \
(for example boiling a substance, building a circuit, finding a living thing or measuring a \
temperature) and you act in the world with text commands, one per turn. After each command you \
receive what happened.

Commands you can use (OBJ, OBJ1, OBJ2 stand for objects you can see; LOC for a place):
- look around | look at OBJ | look in OBJ | inventory | task
- go to LOC | open OBJ | close OBJ (doors too: "open door to kitchen")
- pick up OBJ | put down OBJ | move OBJ1 to OBJ2 | pour OBJ1 in OBJ2 | dunk OBJ1 in OBJ2 | mix OBJ
- activate OBJ | deactivate OBJ | connect OBJ1 to OBJ2 | disconnect OBJ | use OBJ1 on OBJ2
- eat OBJ | flush OBJ | read OBJ | focus on OBJ
- wait (10 time steps) | wait1 (1 time step)

"focus on OBJ" tells the simulator which object your task is about: focus only on the object the \
task names, because focusing on a wrong one can end the task. When a command is ambiguous, the \
simulator lists numbered options; answer with the number.

Your score goes from 0 to 100; the task is complete at 100. You have a limited number of turns.

Reply in this format:
Thought: <your reasoning about what to do next>
Action: <exactly one command>"""
