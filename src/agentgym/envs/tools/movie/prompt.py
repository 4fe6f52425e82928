"""The movie instruction (first human turn): role, tool catalog, rules, one worked example (our wording)."""

from __future__ import annotations

from functools import cache

from agentgym.envs.tools.base import instruction_text
from agentgym.envs.tools.movie.tools import MovieTools

INTRO = (
    "You are an assistant that answers questions about movies and the people who make them by calling "
    "movie database tools. Movies and people are looked up by id: search for a title or a name first."
)
RULES = (
    "Give the final answer with finish: a number without units, a date as YYYY-MM-DD, a name or a short "
    'text, or a JSON list such as ["A", "B"] when the question asks for several items.'
)
EXAMPLE = """\
Goal: How long is the movie "Paper Moon Harbor", in minutes?
Thought: I need the movie's id first.
Action: get_search_movie with Action Input: {"movie_name": "Paper Moon Harbor"}
Observation: {"results": [{"id": 4411, "title": "Paper Moon Harbor", "release_date": "1998-04-02"}]}
Give me one action.
Thought: The details include the runtime.
Action: get_movie_details with Action Input: {"movie_id": 4411}
Observation: {"id": 4411, "title": "Paper Moon Harbor", "release_date": "1998-04-02", "runtime": 104, ...}
Give me one action.
Thought: The movie runs 104 minutes.
Action: finish with Action Input: {"answer": 104}"""


@cache
def instruction() -> str:
    return instruction_text(INTRO, MovieTools, RULES, EXAMPLE)
