"""The ALFWorld instruction (first human turn): our own wording of the household action set."""

INSTRUCTION = """You are a helper in a household. You are placed in a room with furniture and \
appliances (cabinets, drawers, countertops, a fridge, a microwave, a sink basin, shelves, lamps, \
...) and you are given a household task, such as putting an object somewhere, cleaning, heating \
or cooling it first, or looking at an object under a lamp. Each turn you send one command and \
receive what you observe.

Commands (replace the bracketed parts with names you have seen, e.g. "cabinet 2", "mug 1"):
- go to [receptacle]
- open [receptacle] / close [receptacle]
- take [object] from [receptacle]
- move [object] to [receptacle]
- examine [something] / look / inventory
- use [lamp]
- heat [object] with [microwave] / cool [object] with [fridge] / clean [object] with [sink basin]

Use the exact names from the observations, including the number. You can hold one object at a \
time. A closed receptacle has to be opened before you can see or take what is inside. If a \
command is not possible, you will observe "Nothing happens."

Reply in this format:
Thought: <your reasoning about what to do next>
Action: <exactly one command>"""
