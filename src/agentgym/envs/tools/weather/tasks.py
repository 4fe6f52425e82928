"""Weather tasks generated from the data, with their answers and the expert's tool calls.

Twelve question templates (history, forecasts, today, places, air quality), each answerable with
1-4 tool calls plus ``finish``; the answer is computed from `weather.data` exactly as the tools
report it. Ids 0-19 are the test split, the rest train; goals are distinct across both.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from functools import cache
from statistics import mean

from agentgym.core.seeding import make_rng
from agentgym.envs.tools.base import Call, ToolTask, split_ids, unique_tasks
from agentgym.envs.tools.weather import data

N_TEST, N_TRAIN = 20, 300
VERSION = "1"
MAIN = [c for c in data.CITIES if data.find_places(c.name)[0] == c]
COLD = [c for c in MAIN if abs(c.latitude) > 39 and c.latitude > 0]


def _d(x: dt.date) -> str:
    return x.isoformat()


def _geo(city: data.City) -> Call:
    return Call("get_latitude_longitude", {"name": city.name}, f"I need the coordinates of {city.name}.")


def _ll(city: data.City) -> dict[str, float]:
    return {"latitude": city.latitude, "longitude": city.longitude}


def _today_call() -> Call:
    return Call("get_user_current_date", {}, "First I find out today's date.")


def _here_call() -> Call:
    return Call("get_user_current_location", {}, "I need to know which city the user is in.")


Builder = Callable[[random.Random, dt.date, data.City], tuple[str, object, list[Call]] | None]


def hist_max(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    city = rng.choice(MAIN)
    end = today - dt.timedelta(rng.randint(1, 40))
    start = end - dt.timedelta(rng.randint(2, 9))
    top = max(d.temp_max for _, d in data.days(city, start, end))
    goal = (
        f"What was the highest daily maximum temperature (°C) in {city.name} from {_d(start)} to {_d(end)}?"
    )
    calls = [_geo(city), Call("get_historical_temp", {**_ll(city), "start_date": _d(start), "end_date": _d(end)},
                              "Now I fetch the daily temperatures of that period.")]  # fmt: skip
    return goal, top, calls


def rain_last_week(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    start, end = today - dt.timedelta(7), today - dt.timedelta(1)
    total = round(sum(d.rain for _, d in data.days(here, start, end)), 1)
    goal = "How much rain (mm) fell in total in my city over the last 7 days, not counting today? Round to 0.1 mm."
    calls = [_here_call(), _today_call(), _geo(here),
             Call("get_historical_rain", {**_ll(here), "start_date": _d(start), "end_date": _d(end)},
                  "I fetch the daily rain of the last seven days and add it up.")]  # fmt: skip
    return goal, total, calls


def forecast_min_avg(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    city = rng.choice(MAIN)
    start, end = today + dt.timedelta(1), today + dt.timedelta(3)
    avg = round(mean(d.temp_min for _, d in data.days(city, start, end)), 2)
    goal = (f"What is the average of the daily minimum temperatures (°C) forecast for {city.name} for the next "
            "three days (tomorrow and the two days after)? Round to 2 decimals.")  # fmt: skip
    calls = [_today_call(), _geo(city),
             Call("get_temp_forecast", {**_ll(city), "start_date": _d(start), "end_date": _d(end)},
                  "I get the forecast for the next three days.")]  # fmt: skip
    return goal, avg, calls


def elevation_here(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    goal = "What is the elevation, in metres, of the city I am in?"
    calls = [_here_call(), _geo(here), Call("get_elevation", _ll(here), "Now I look up the elevation there.")]
    return goal, here.elevation, calls


def distance(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    a, b = rng.sample(MAIN, 2)
    km = round(data.distance_km(a.latitude, a.longitude, b.latitude, b.longitude))
    goal = f"How far apart are {a.name} and {b.name}, in kilometres rounded to a whole number?"
    args = {
        "latitude1": a.latitude,
        "longitude1": a.longitude,
        "latitude2": b.latitude,
        "longitude2": b.longitude,
    }
    calls = [_geo(a), _geo(b), Call("get_distance", args, "I have both coordinates; I compute the distance.")]
    return goal, km, calls


def aqi_level_today(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    city = rng.choice(MAIN)
    index = data.day(city, today).aqi
    goal = f"What is the air quality level in {city.name} today?"
    calls = [_today_call(), _geo(city),
             Call("get_current_air_quality_index", {**_ll(city), "current_date": _d(today)},
                  "I get today's air quality index there."),
             Call("get_air_quality_level", {"air_quality_index": index}, "I turn the index into a level.")]  # fmt: skip
    return goal, data.aqi_level(index), calls


def snow_tomorrow(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    city = rng.choice(COLD)
    tomorrow = today + dt.timedelta(1)
    goal = f"Will any snow fall in {city.name} tomorrow? Answer yes or no."
    answer = "yes" if data.day(city, tomorrow).snow > 0 else "no"
    calls = [_today_call(), _geo(city),
             Call("get_snow_forecast", {**_ll(city), "start_date": _d(tomorrow), "end_date": _d(tomorrow)},
                  "I check the snowfall forecast for tomorrow.")]  # fmt: skip
    return goal, answer, calls


def current_temp(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    city = rng.choice(MAIN)
    goal = f"What is the mean temperature (°C) in {city.name} today?"
    calls = [
        _today_call(),
        _geo(city),
        Call("get_current_temp", {**_ll(city), "current_date": _d(today)}, "I get today's temperature."),
    ]
    return goal, data.day(city, today).temp_mean, calls


def rainiest_day(
    rng: random.Random, today: dt.date, here: data.City
) -> tuple[str, object, list[Call]] | None:
    city = rng.choice(MAIN)
    end = today - dt.timedelta(rng.randint(1, 60))
    start = end - dt.timedelta(rng.randint(4, 12))
    rows = data.days(city, start, end)
    wettest = max(d.rain for _, d in rows)
    best = [x for x, d in rows if d.rain == wettest]
    if wettest <= 0 or len(best) != 1:
        return None
    goal = f"On which day from {_d(start)} to {_d(end)} did {city.name} get the most rain? Give the date (YYYY-MM-DD)."
    calls = [_geo(city), Call("get_historical_rain", {**_ll(city), "start_date": _d(start), "end_date": _d(end)},
                              "I fetch the daily rain of that period.")]  # fmt: skip
    return goal, _d(best[0]), calls


def snow_total(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    city = rng.choice(COLD)
    year = today.year - 1 if today.month < 4 else today.year
    start = dt.date(year, 1, rng.randint(1, 20))
    end = start + dt.timedelta(rng.randint(5, 20))
    total = round(sum(d.snow for _, d in data.days(city, start, end)), 1)
    goal = f"How many centimetres of snow fell in {city.name} in total from {_d(start)} to {_d(end)}? Round to 0.1 cm."
    calls = [_geo(city), Call("get_historical_snow", {**_ll(city), "start_date": _d(start), "end_date": _d(end)},
                              "I fetch the daily snowfall of that period and add it up.")]  # fmt: skip
    return goal, total, calls


def aqi_average(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    city = rng.choice(MAIN)
    end = today - dt.timedelta(rng.randint(1, 30))
    start = end - dt.timedelta(rng.randint(3, 8))
    avg = round(mean(d.aqi for _, d in data.days(city, start, end)), 2)
    goal = (f"What was the average European air quality index in {city.name} from {_d(start)} to {_d(end)}? "
            "Round to 2 decimals.")  # fmt: skip
    calls = [_geo(city),
             Call("get_historical_air_quality_index", {**_ll(city), "start_date": _d(start), "end_date": _d(end)},
                  "I fetch the daily air quality index of that period.")]  # fmt: skip
    return goal, avg, calls


def rain_today_here(rng: random.Random, today: dt.date, here: data.City) -> tuple[str, object, list[Call]]:
    goal = "How much rain (mm) falls today where I am?"
    calls = [
        _here_call(),
        _today_call(),
        _geo(here),
        Call("get_current_rain", {**_ll(here), "current_date": _d(today)}, "I get today's rain there."),
    ]
    return goal, data.day(here, today).rain, calls


TEMPLATES: tuple[Builder, ...] = (
    hist_max, rain_last_week, forecast_min_avg, elevation_here, distance, aqi_level_today,
    snow_tomorrow, current_temp, rainiest_day, snow_total, aqi_average, rain_today_here,
)  # fmt: skip


def _make(attempt: int) -> ToolTask | None:
    rng = make_rng("weather-task", VERSION, attempt)
    today = dt.date(2023, 1, 1) + dt.timedelta(rng.randint(0, 900))
    here = rng.choice(MAIN)
    build = TEMPLATES[attempt % len(TEMPLATES)]
    made = build(rng, today, here)
    if made is None:
        return None
    goal, answer, calls = made
    config = {"current_date": _d(today), "current_location": here.name}
    return ToolTask(goal, answer, tuple(calls), config, build.__name__)


@cache
def all_tasks() -> list[ToolTask]:
    return unique_tasks(_make, N_TEST + N_TRAIN, N_TEST)


def splits() -> dict[str, list[int]]:
    return split_ids(N_TEST, N_TRAIN)
