"""The academia instruction (first human turn): role, tool catalog, rules, one worked example (our wording)."""

from __future__ import annotations

from functools import cache

from agentgym.envs.tools.academia.tools import AcademiaTools
from agentgym.envs.tools.base import instruction_text

INTRO = (
    "You are an assistant that answers questions about academic papers and their authors using two graphs: "
    "the PaperNet (papers by title, edges are citations) and the AuthorNet (authors by name, edges join "
    "authors who wrote a paper together). Load a graph before you query it."
)
RULES = (
    "Name papers by their exact title and authors by their full name. Give the final answer with finish: "
    'a number, a name, a title, yes or no, or a JSON list such as ["A", "B"] when asked for several.'
)
EXAMPLE = """\
Goal: Which organization is Mei Tanaka affiliated with?
Thought: Authors are in the AuthorNet; I load it.
Action: loadAuthorNet with Action Input: {}
Observation: AuthorNet is loaded.
Give me one action.
Thought: The author node holds the organization.
Action: authorNodeCheck with Action Input: {"node": "Mei Tanaka"}
Observation: {"name": "Mei Tanaka", "org": "Kyoto University", "papers": ["Sparse Attention for Tool Use"]}
Give me one action.
Thought: Mei Tanaka is at Kyoto University.
Action: finish with Action Input: {"answer": "Kyoto University"}"""


@cache
def instruction() -> str:
    return instruction_text(INTRO, AcademiaTools, RULES, EXAMPLE)
