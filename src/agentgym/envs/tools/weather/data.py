"""The local weather backend: cities and one generated weather record per city and day.

Stands in for open-meteo (geocoding, elevation, forecast, archive and air-quality APIs). A day's
record is a pure function of (city, date) - seeded from both with a stable hash - so any two
processes agree on it and nothing needs storing. The numbers are plausible rather than real:
the mean temperature follows latitude, elevation and season (flipped south of the equator), rain
falls on a city-specific share of days, precipitation on freezing days comes down as snow, and
the European air-quality index varies around a city-specific level.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cache, lru_cache

from agentgym.core.seeding import make_rng

FIRST_DAY = dt.date(2015, 1, 1)
LAST_DAY = dt.date(2026, 12, 31)


@dataclass(frozen=True)
class City:
    name: str
    country: str
    latitude: float
    longitude: float
    elevation: float


CITIES: tuple[City, ...] = (
    City("Shanghai", "China", 31.2222, 121.4581, 4),
    City("Beijing", "China", 39.9075, 116.3972, 49),
    City("Tokyo", "Japan", 35.6895, 139.6917, 40),
    City("Seoul", "South Korea", 37.566, 126.9784, 38),
    City("Singapore", "Singapore", 1.2897, 103.8501, 15),
    City("Bangkok", "Thailand", 13.75, 100.5167, 12),
    City("Mumbai", "India", 19.0728, 72.8826, 14),
    City("Delhi", "India", 28.6519, 77.2315, 216),
    City("Dubai", "United Arab Emirates", 25.0772, 55.3093, 16),
    City("Ulaanbaatar", "Mongolia", 47.9077, 106.8832, 1350),
    City("Moscow", "Russia", 55.7522, 37.6156, 144),
    City("London", "United Kingdom", 51.5085, -0.1257, 25),
    City("Paris", "France", 48.8534, 2.3488, 42),
    City("Berlin", "Germany", 52.5244, 13.4105, 43),
    City("Madrid", "Spain", 40.4165, -3.7026, 667),
    City("Rome", "Italy", 41.8919, 12.5113, 20),
    City("Zurich", "Switzerland", 47.3667, 8.55, 408),
    City("Stockholm", "Sweden", 59.3294, 18.0687, 17),
    City("Oslo", "Norway", 59.9127, 10.7461, 23),
    City("Helsinki", "Finland", 60.1695, 24.9354, 26),
    City("Reykjavik", "Iceland", 64.1355, -21.8954, 30),
    City("Cairo", "Egypt", 30.0626, 31.2497, 23),
    City("Nairobi", "Kenya", -1.2833, 36.8167, 1661),
    City("Lagos", "Nigeria", 6.4541, 3.3947, 41),
    City("Cape Town", "South Africa", -33.9258, 18.4232, 25),
    City("Johannesburg", "South Africa", -26.2023, 28.0436, 1767),
    City("New York", "United States", 40.7143, -74.006, 10),
    City("Los Angeles", "United States", 34.0522, -118.2437, 89),
    City("Chicago", "United States", 41.85, -87.65, 179),
    City("Denver", "United States", 39.7392, -104.9847, 1609),
    City("Miami", "United States", 25.7743, -80.1937, 2),
    City("Anchorage", "United States", 61.2181, -149.9003, 31),
    City("Toronto", "Canada", 43.7001, -79.4163, 175),
    City("Montreal", "Canada", 45.5088, -73.5878, 216),
    City("Vancouver", "Canada", 49.2497, -123.1193, 70),
    City("Mexico City", "Mexico", 19.4285, -99.1277, 2240),
    City("Bogota", "Colombia", 4.6097, -74.0817, 2582),
    City("Lima", "Peru", -12.0432, -77.0282, 109),
    City("Sao Paulo", "Brazil", -23.5475, -46.6361, 769),
    City("Buenos Aires", "Argentina", -34.6131, -58.3772, 25),
    City("Santiago", "Chile", -33.4569, -70.6483, 520),
    City("Sydney", "Australia", -33.8679, 151.2073, 58),
    City("Melbourne", "Australia", -37.814, 144.9633, 31),
    City("Auckland", "New Zealand", -36.8485, 174.7635, 26),
    # smaller namesakes: a geocoding search returns several places, the big one first
    City("Paris", "United States", 33.6609, -95.5555, 183),
    City("London", "Canada", 42.9834, -81.233, 251),
)


@dataclass(frozen=True)
class Day:
    temp_max: float
    temp_min: float
    temp_mean: float
    rain: float  # mm
    snow: float  # cm
    aqi: int  # European AQI


def parse_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def find_places(name: str) -> list[City]:
    """Places called ``name`` (exact, case-insensitive), else those whose name contains it."""
    key = " ".join(name.casefold().split())
    exact = [c for c in CITIES if c.name.casefold() == key]
    return exact or [c for c in CITIES if key and key in c.name.casefold()]


def city_at(latitude: float, longitude: float, tolerance: float = 0.2) -> City | None:
    """The city at these coordinates (within ``tolerance`` degrees), if any."""
    best = min(CITIES, key=lambda c: (c.latitude - latitude) ** 2 + (c.longitude - longitude) ** 2)
    if abs(best.latitude - latitude) <= tolerance and abs(best.longitude - longitude) <= tolerance:
        return best
    return None


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, Earth radius 6371 km), rounded to 0.01 km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * 6371.0 * math.asin(math.sqrt(a)), 2)


@cache
def _climate(city: City) -> tuple[float, float, float, float]:
    """(annual mean temperature, seasonal amplitude, rainy-day share, mean AQI) of a city."""
    rng = make_rng("weather-climate", city.name, city.country)
    lat = abs(city.latitude)
    mean = 28.0 - 0.45 * max(0.0, lat - 15.0) - 6.5 * city.elevation / 1000.0 + rng.uniform(-1.5, 1.5)
    amplitude = min(18.0, 1.0 + 0.3 * lat)
    wet = rng.uniform(0.12, 0.5)
    aqi = rng.uniform(12, 75)
    return mean, amplitude, wet, aqi


@lru_cache(maxsize=65536)
def day(city: City, date: dt.date) -> Day:
    """The weather of ``city`` on ``date`` (deterministic)."""
    mean, amplitude, wet, aqi_level = _climate(city)
    rng = make_rng("weather-day", city.name, city.country, date.isoformat())
    doy = date.timetuple().tm_yday
    season = math.cos(2 * math.pi * (doy - 200) / 365.25) * (1 if city.latitude >= 0 else -1)
    t = mean + amplitude * season + rng.gauss(0, 2.5)
    spread = rng.uniform(5.0, 11.0)
    t_max, t_min = round(t + spread / 2, 1), round(t - spread / 2, 1)
    t_mean = round((t_max + t_min) / 2, 1)
    rain = snow = 0.0
    if rng.random() < wet:
        amount = round(rng.expovariate(1 / 6.0) + 0.1, 1)
        if t_max < 1.0:
            snow = round(amount * 0.7, 1)
        elif t_min < 0.0:
            snow = round(amount * 0.35, 1)
            rain = round(amount * 0.5, 1)
        else:
            rain = amount
    aqi = int(max(3, min(180, round(aqi_level * math.exp(rng.gauss(0, 0.35))))))
    return Day(t_max, t_min, t_mean, rain, snow, aqi)


def days(city: City, start: dt.date, end: dt.date) -> list[tuple[dt.date, Day]]:
    n = (end - start).days
    return [(start + dt.timedelta(i), day(city, start + dt.timedelta(i))) for i in range(n + 1)]


AQI_LEVELS: tuple[tuple[float, str], ...] = (
    (20, "good"),
    (40, "fair"),
    (60, "moderate"),
    (80, "poor"),
    (100, "very poor"),
)


def aqi_level(index: float) -> str:
    """The European AQI band of ``index``."""
    for bound, name in AQI_LEVELS:
        if index <= bound:
            return name
    return "extremely poor"
