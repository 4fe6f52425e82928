"""WebShop's instruction (first human turn): our own wording of the web-shopping task prompt."""

from __future__ import annotations

INSTRUCTION = """\
You are shopping in an online store for a customer and must buy the product that fits their \
instruction. Each observation is the current web page: its visible texts separated by [SEP].

You can act in two ways:
- search[keywords]: type keywords into the search bar (only on the page that has a search bar);
- click[label]: click a button or link shown on the page, such as a product ID from the results, \
an option value (a size, a color, ...), "Next >", "< Prev", "Back to Search", "Description", \
"Features", "Reviews" or "Buy Now".

Open a product that matches, select every option the instruction names, then click "Buy Now"; \
buying ends the episode and you are scored on how well the purchase matches (product kind, \
attributes, options and price). You have at most {max_rounds} actions.

Answer every time with one short thought and exactly one action, in this form:
Thought: <your reasoning>
Action: <search[...] or click[...]>"""


def instruction(max_rounds: int) -> str:
    return INSTRUCTION.format(max_rounds=max_rounds)
