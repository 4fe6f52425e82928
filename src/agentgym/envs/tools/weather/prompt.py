"""The weather instruction (first human turn): role, tool catalog, rules, one worked example (our wording)."""

from __future__ import annotations

from functools import cache

from agentgym.envs.tools.base import instruction_text
from agentgym.envs.tools.weather.tools import WeatherTools

INTRO = (
    "You are an assistant that answers questions about the weather by calling weather tools. "
    "Find the coordinates of a place with get_latitude_longitude before asking for its weather; "
    "relative dates (today, tomorrow, last week) are counted from the user's current date."
)
RULES = (
    "Dates are written YYYY-MM-DD. Historical tools cover days before today; forecast tools cover "
    "today and up to 14 days ahead. Give the final answer with finish, as a number (no unit), a date, "
    "or a short text, rounded as the question asks."
)
EXAMPLE = """\
Goal: What is the elevation, in metres, of the city I am in?
Thought: I need to know where the user is.
Action: get_user_current_location with Action Input: {}
Observation: Lisbon
Give me one action.
Thought: I look up the coordinates of Lisbon.
Action: get_latitude_longitude with Action Input: {"name": "Lisbon"}
Observation: {"results": [{"name": "Lisbon", "country": "Portugal", "latitude": 38.7167, "longitude": -9.1333}]}
Give me one action.
Thought: Now the elevation at those coordinates.
Action: get_elevation with Action Input: {"latitude": 38.7167, "longitude": -9.1333}
Observation: {"elevation": 45}
Give me one action.
Thought: The elevation is 45 metres.
Action: finish with Action Input: {"answer": 45}"""


@cache
def instruction() -> str:
    return instruction_text(INTRO, WeatherTools, RULES, EXAMPLE)
