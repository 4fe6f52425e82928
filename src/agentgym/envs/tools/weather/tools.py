"""The weather tools (the original names and arguments), answered from `weather.data`.

Outputs follow open-meteo's shapes (``{"daily": {"time": [...], "temperature_2m_max": [...]}}``)
so a model trained on the original trajectories reads them the same way. Time windows are checked
against the user's current date: history ends yesterday, forecasts reach 14 days ahead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agentgym.envs.tools.base import Toolbox, ToolError, UserContext, as_float, as_str, tool
from agentgym.envs.tools.weather import data

MAX_DAYS = 62
FORECAST_DAYS = 14


def _date(value: Any, name: str) -> dt.date:
    text = as_str(value, name)
    try:
        out = data.parse_date(text)
    except ValueError:
        raise ToolError(f"{name} must be a date written YYYY-MM-DD, not {text!r}") from None
    if not data.FIRST_DAY <= out <= data.LAST_DAY:
        raise ToolError(f"{name} {text} is outside the data ({data.FIRST_DAY} to {data.LAST_DAY})")
    return out


class WeatherTools(UserContext, Toolbox):
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.today = data.parse_date(config["current_date"])

    # ------------------------------------------------------------------ helpers
    def _city(self, latitude: Any, longitude: Any) -> data.City:
        lat, lon = as_float(latitude, "latitude"), as_float(longitude, "longitude")
        city = data.city_at(lat, lon)
        if city is None:
            raise ToolError(
                f"no weather data at latitude {lat}, longitude {lon}: use the coordinates that "
                "get_latitude_longitude gives"
            )
        return city

    def _window(self, start_date: Any, end_date: Any, past: bool) -> tuple[dt.date, dt.date]:
        start, end = _date(start_date, "start_date"), _date(end_date, "end_date")
        if end < start:
            raise ToolError("end_date is before start_date")
        if (end - start).days >= MAX_DAYS:
            raise ToolError(f"at most {MAX_DAYS} days per call")
        if past and end >= self.today:
            raise ToolError(f"historical data ends the day before today ({self.today}); use a forecast tool")
        if not past:
            if start < self.today:
                raise ToolError(
                    f"a forecast starts today ({self.today}) at the earliest; use a historical tool"
                )
            if end > self.today + dt.timedelta(FORECAST_DAYS):
                raise ToolError(
                    f"forecasts reach {FORECAST_DAYS} days ahead (until {self.today + dt.timedelta(FORECAST_DAYS)})"
                )
        return start, end

    def _daily(self, latitude: Any, longitude: Any, start_date: Any, end_date: Any, past: bool,
               fields: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        city = self._city(latitude, longitude)
        start, end = self._window(start_date, end_date, past)
        rows = data.days(city, start, end)
        daily: dict[str, list[Any]] = {"time": [d.isoformat() for d, _ in rows]}
        for key, attr in fields.items():
            daily[key] = [getattr(r, attr) for _, r in rows]
        return {"latitude": city.latitude, "longitude": city.longitude, "daily": daily}

    def _today(self, latitude: Any, longitude: Any, current_date: Any) -> data.Day:
        city = self._city(latitude, longitude)
        if _date(current_date, "current_date") != self.today:
            raise ToolError("current_date is not today's date (get_user_current_date gives it)")
        return data.day(city, self.today)

    # ------------------------------------------------------------------ places
    @tool(
        "Find places by name.",
        "a list of matching places (name, country, latitude, longitude), the largest first",
    )
    def get_latitude_longitude(self, name: Any) -> dict[str, Any]:
        key = as_str(name, "name")
        found = data.find_places(key)
        if not found:
            raise ToolError(f"no place called {key!r}")
        return {
            "results": [
                {"name": c.name, "country": c.country, "latitude": c.latitude, "longitude": c.longitude}
                for c in found
            ]
        }

    @tool("Get the elevation of a place.", "the elevation in metres")
    def get_elevation(self, latitude: Any, longitude: Any) -> dict[str, Any]:
        return {"elevation": self._city(latitude, longitude).elevation}

    @tool("Get the great-circle distance between two places.", "the distance in kilometres")
    def get_distance(self, latitude1: Any, longitude1: Any, latitude2: Any, longitude2: Any) -> float:
        return data.distance_km(
            as_float(latitude1, "latitude1"),
            as_float(longitude1, "longitude1"),
            as_float(latitude2, "latitude2"),
            as_float(longitude2, "longitude2"),
        )

    # ------------------------------------------------------------------ history
    @tool(
        "Get the daily max, min and mean temperature (°C) of a past date range (YYYY-MM-DD, ending before today)."
    )
    def get_historical_temp(
        self, latitude: Any, longitude: Any, start_date: Any, end_date: Any
    ) -> dict[str, Any]:
        fields = {
            "temperature_2m_max": "temp_max",
            "temperature_2m_min": "temp_min",
            "temperature_2m_mean": "temp_mean",
        }
        return self._daily(latitude, longitude, start_date, end_date, True, fields)

    @tool("Get the daily rain sum (mm) of a past date range.")
    def get_historical_rain(
        self, latitude: Any, longitude: Any, start_date: Any, end_date: Any
    ) -> dict[str, Any]:
        return self._daily(latitude, longitude, start_date, end_date, True, {"rain_sum": "rain"})

    @tool("Get the daily snowfall sum (cm) of a past date range.")
    def get_historical_snow(
        self, latitude: Any, longitude: Any, start_date: Any, end_date: Any
    ) -> dict[str, Any]:
        return self._daily(latitude, longitude, start_date, end_date, True, {"snowfall_sum": "snow"})

    @tool("Get the daily European air quality index of a past date range.")
    def get_historical_air_quality_index(
        self, latitude: Any, longitude: Any, start_date: Any, end_date: Any
    ) -> dict[str, Any]:
        return self._daily(latitude, longitude, start_date, end_date, True, {"european_aqi": "aqi"})

    # ------------------------------------------------------------------ forecasts
    @tool(
        "Get the daily max, min and mean temperature (°C) forecast for a date range from today on (up to 14 days ahead)."
    )
    def get_temp_forecast(
        self, latitude: Any, longitude: Any, start_date: Any, end_date: Any
    ) -> dict[str, Any]:
        fields = {
            "temperature_2m_max": "temp_max",
            "temperature_2m_min": "temp_min",
            "temperature_2m_mean": "temp_mean",
        }
        return self._daily(latitude, longitude, start_date, end_date, False, fields)

    @tool("Get the daily rain sum (mm) forecast for a date range from today on.")
    def get_rain_forecast(
        self, latitude: Any, longitude: Any, start_date: Any, end_date: Any
    ) -> dict[str, Any]:
        return self._daily(latitude, longitude, start_date, end_date, False, {"rain_sum": "rain"})

    @tool("Get the daily snowfall sum (cm) forecast for a date range from today on.")
    def get_snow_forecast(
        self, latitude: Any, longitude: Any, start_date: Any, end_date: Any
    ) -> dict[str, Any]:
        return self._daily(latitude, longitude, start_date, end_date, False, {"snowfall_sum": "snow"})

    # ------------------------------------------------------------------ today
    @tool("Get today's mean temperature (°C) at a place; current_date is today's date.")
    def get_current_temp(self, latitude: Any, longitude: Any, current_date: Any) -> dict[str, Any]:
        return {
            "date": self.today.isoformat(),
            "temperature_2m": self._today(latitude, longitude, current_date).temp_mean,
        }

    @tool("Get today's rain sum (mm) at a place; current_date is today's date.")
    def get_current_rain(self, latitude: Any, longitude: Any, current_date: Any) -> dict[str, Any]:
        return {"date": self.today.isoformat(), "rain": self._today(latitude, longitude, current_date).rain}

    @tool("Get today's snowfall sum (cm) at a place; current_date is today's date.")
    def get_current_snow(self, latitude: Any, longitude: Any, current_date: Any) -> dict[str, Any]:
        return {
            "date": self.today.isoformat(),
            "snowfall": self._today(latitude, longitude, current_date).snow,
        }

    @tool("Get today's European air quality index at a place; current_date is today's date.")
    def get_current_air_quality_index(
        self, latitude: Any, longitude: Any, current_date: Any
    ) -> dict[str, Any]:
        return {
            "date": self.today.isoformat(),
            "european_aqi": self._today(latitude, longitude, current_date).aqi,
        }

    @tool(
        "Get the level of a European air quality index value.",
        "good, fair, moderate, poor, very poor or extremely poor",
    )
    def get_air_quality_level(self, air_quality_index: Any) -> str:
        index = as_float(air_quality_index, "air_quality_index")
        if index < 0:
            raise ToolError("air_quality_index cannot be negative")
        return data.aqi_level(index)
