"""The local movie database: generated people, movies, credits, companies, countries and keywords.

Stands in for TMDB (which needed an API key and the network). Built once per process from a fixed
seed, read-only, so all sessions share it. Names and titles are unique, so a question naming a
movie or a person has one answer; ids are TMDB-like integers.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from functools import cache

from agentgym.core.seeding import make_rng

VERSION = "1"
N_MOVIES = 220

FIRST = (
    "Ada Alan Alma Amir Anna Arlo Ben Bianca Carl Clara Dario Dina Eli Elsa Emil Eva Felix Fiona Gabe Greta "
    "Hana Hugo Ida Igor Ines Ivan Jade Jonas Kai Kara Leo Lena Liam Lina Luca Maya Milo Mira Nadia Nico Nora "
    "Omar Olga Otto Paula Pavel Quinn Rafael Rosa Ruben Sara Simon Sofia Tariq Tess Theo Uma Vera Victor "
    "Wanda Yara Yusuf Zane Zoe"
).split()
LAST = (
    "Abbott Alvarez Bauer Becker Bishop Carver Castillo Chen Dalton Delgado Duarte Ellison Engel Falk Ferreira "
    "Fischer Gallo Garner Hale Hartmann Holm Ibarra Ivers Jansen Kaur Keller Kovacs Lambert Larsen Lindqvist "
    "Marsh Moreau Nakamura Navarro Novak Okafor Olsen Ortega Park Petrov Quade Ramos Reyes Rossi Santos "
    "Schmidt Sato Silva Sorensen Tanaka Thorne Ueda Vance Varga Weber Whitlock Xu Yilmaz Young Zeller"
).split()
ADJ = (
    "Silent Broken Golden Hidden Last Crimson Endless Frozen Burning Lost Midnight Distant Wild Quiet Savage "
    "Hollow Electric Northern Restless Velvet Iron Paper Glass Scarlet Forgotten"
).split()
NOUN = (
    "River Empire Garden Signal Harbor Kingdom Witness Horizon Voyage Orchard Mirror Tide Frontier Lantern "
    "Engine Cathedral Compass Winter Summer Island Letter Circus Detective Spiral Station"
).split()
PLACE = "Avalon Marrow Kestrel Valdor Ostend Brightwater Calder Tessaly Norhaven Ember Bay".split()
GENRES = (
    "Action Adventure Animation Comedy Crime Documentary Drama Family Fantasy History Horror Music Mystery "
    "Romance Science-Fiction Thriller War Western"
).split()
KEYWORDS = [
    "heist",
    "revenge",
    "time travel",
    "small town",
    "road trip",
    "friendship",
    "betrayal",
    "courtroom",
    "space station",
    "dystopia",
    "coming of age",
    "family secret",
    "haunted house",
    "undercover cop",
    "artificial intelligence",
    "survival",
    "island",
    "treasure hunt",
    "war veteran",
    "boxing",
    "musician",
    "prison escape",
    "journalism",
    "kidnapping",
    "wedding",
    "amnesia",
    "parallel universe",
    "serial killer",
    "chess",
    "bank robbery",
    "submarine",
    "mountain climbing",
    "volcano",
    "robot",
    "vampire",
    "election",
]
COUNTRIES = (
    ("US", "United States of America"), ("GB", "United Kingdom"), ("FR", "France"), ("DE", "Germany"),
    ("IT", "Italy"), ("ES", "Spain"), ("JP", "Japan"), ("KR", "South Korea"), ("IN", "India"),
    ("CA", "Canada"), ("AU", "Australia"), ("MX", "Mexico"), ("BR", "Brazil"), ("SE", "Sweden"),
)  # fmt: skip
BIRTH_CITIES = (
    "Chicago, Illinois, USA", "Lyon, France", "Manchester, England, UK", "Osaka, Japan",
    "Toronto, Ontario, Canada", "Seville, Spain", "Hamburg, Germany", "Melbourne, Australia",
    "Mumbai, India", "Naples, Italy", "Busan, South Korea", "Austin, Texas, USA",
    "Guadalajara, Mexico", "Recife, Brazil", "Gothenburg, Sweden", "Dublin, Ireland",
)  # fmt: skip
COMPANY_WORDS = (
    "Lumen Northstar Bluebird Granite Halcyon Meridian Pinewood Redline Solace Tandem Vertex Wildcard".split()
)
COMPANY_KINDS = ("Pictures", "Films", "Studios", "Entertainment", "Productions")
CHAR_FIRST = "Jack Mara Tom Lucy Sam Kate Max Ellie Ray June Finn Ivy Cole Ruth Dex Nell".split()
CHAR_ROLE = ("Detective", "Captain", "Doctor", "Professor", "Agent", "Sergeant", "Father", "Sister")
LANGS = ("en", "en", "en", "fr", "de", "ja", "es", "ko", "it")


@dataclass
class Person:
    id: int
    name: str
    gender: int  # TMDB: 1 female, 2 male
    birthday: str
    place_of_birth: str
    department: str
    deathday: str | None = None


@dataclass
class Movie:
    id: int
    title: str
    release_date: str
    runtime: int
    budget: int
    revenue: int
    vote_average: float
    genres: list[str]
    language: str
    overview: str
    companies: list[int]
    countries: list[tuple[str, str]]
    keywords: list[int]
    cast: list[tuple[int, str]] = field(default_factory=list)  # (person id, character), in billing order
    crew: list[tuple[int, str, str]] = field(default_factory=list)  # (person id, job, department)


@dataclass
class MovieDB:
    movies: dict[int, Movie]
    people: dict[int, Person]
    companies: dict[int, tuple[str, str]]  # id -> (name, origin country code)
    keywords: dict[int, str]

    def by_title(self, title: str) -> Movie:
        return next(m for m in self.movies.values() if m.title == title)

    def by_name(self, name: str) -> Person:
        return next(p for p in self.people.values() if p.name == name)


def _names(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct names in draw order (never a set's order: that changes with the hash seed)."""
    out: dict[str, None] = {}
    while len(out) < n:
        out[f"{rng.choice(FIRST)} {rng.choice(LAST)}"] = None
    return list(out)


def _titles(rng: random.Random, n: int) -> list[str]:
    forms = (
        lambda: f"The {rng.choice(ADJ)} {rng.choice(NOUN)}",
        lambda: f"{rng.choice(NOUN)} of {rng.choice(PLACE)}",
        lambda: f"{rng.choice(ADJ)} {rng.choice(NOUN)}s",
        lambda: f"The {rng.choice(NOUN)} at {rng.choice(PLACE)}",
    )
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        t = rng.choice(forms)()
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _date(rng: random.Random, first: int, last: int) -> str:
    return (dt.date(first, 1, 1) + dt.timedelta(rng.randint(0, (last - first + 1) * 365 - 1))).isoformat()


@cache
def database() -> MovieDB:
    """The database (built once per process, deterministic)."""
    rng = make_rng("movie-db", VERSION)
    depts = [
        ("Acting", 320),
        ("Directing", 70),
        ("Writing", 60),
        ("Production", 50),
        ("Sound", 25),
        ("Camera", 25),
    ]
    names = _names(rng, sum(n for _, n in depts))
    ids = rng.sample(range(10_000, 2_000_000), len(names))
    people: dict[int, Person] = {}
    pool: dict[str, list[int]] = {}
    k = 0
    for dept, n in depts:
        for _ in range(n):
            pid = ids[k]
            born = _date(rng, 1935, 2002)
            death = _date(rng, 2005, 2023) if born < "1950" and rng.random() < 0.4 else None
            people[pid] = Person(
                pid, names[k], rng.choice((1, 2)), born, rng.choice(BIRTH_CITIES), dept, death
            )
            pool.setdefault(dept, []).append(pid)
            k += 1
    companies: dict[int, tuple[str, str]] = {}
    for i, (w, kind) in enumerate((w, kd) for w in COMPANY_WORDS for kd in COMPANY_KINDS[:3]):
        companies[100 + i * 7] = (f"{w} {kind}", rng.choice(COUNTRIES)[0])
    keywords = {200 + i * 13: kw for i, kw in enumerate(KEYWORDS)}
    titles = _titles(rng, N_MOVIES)
    movie_ids = rng.sample(range(100, 900_000), N_MOVIES)
    movies: dict[int, Movie] = {}
    for mid, title in zip(movie_ids, titles, strict=True):
        budget = rng.randint(2, 180) * 1_000_000
        genres = rng.sample(GENRES, rng.randint(1, 3))
        m = Movie(
            id=mid,
            title=title,
            release_date=_date(rng, 1975, 2023),
            runtime=rng.randint(82, 178),
            budget=budget,
            revenue=int(budget * rng.uniform(0.3, 6.0)) // 1000 * 1000,
            vote_average=round(rng.uniform(4.0, 8.9), 1),
            genres=genres,
            language=rng.choice(LANGS),
            overview=f"A {genres[0].lower()} story about {rng.choice(KEYWORDS)} and {rng.choice(KEYWORDS)}.",
            companies=rng.sample(sorted(companies), rng.randint(1, 3)),
            countries=rng.sample(COUNTRIES, rng.randint(1, 2)),
            keywords=rng.sample(sorted(keywords), rng.randint(3, 6)),
        )
        chars: set[str] = set()
        for pid in rng.sample(pool["Acting"], rng.randint(5, 8)):
            while True:
                c = (
                    f"{rng.choice(CHAR_ROLE)} {rng.choice(CHAR_FIRST)}"
                    if rng.random() < 0.4
                    else (f"{rng.choice(CHAR_FIRST)} {rng.choice(LAST)}")
                )
                if c not in chars:
                    chars.add(c)
                    break
            m.cast.append((pid, c))
        m.crew.append((rng.choice(pool["Directing"]), "Director", "Directing"))
        for pid in rng.sample(pool["Writing"], rng.randint(1, 2)):
            m.crew.append((pid, rng.choice(("Screenplay", "Writer")), "Writing"))
        for pid in rng.sample(pool["Production"], rng.randint(1, 2)):
            m.crew.append((pid, "Producer", "Production"))
        m.crew.append((rng.choice(pool["Sound"]), "Original Music Composer", "Sound"))
        m.crew.append((rng.choice(pool["Camera"]), "Director of Photography", "Camera"))
        movies[mid] = m
    return MovieDB(movies, people, companies, keywords)
