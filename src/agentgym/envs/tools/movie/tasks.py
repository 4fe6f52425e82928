"""Movie tasks generated from the database, with their answers and the expert's tool calls (1-4 each)."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache

from agentgym.core.seeding import make_rng
from agentgym.envs.tools.base import Call, ToolTask, split_ids, unique_tasks
from agentgym.envs.tools.movie import data

N_TEST, N_TRAIN = 20, 300
VERSION = data.VERSION

Made = tuple[str, object, list[Call]] | None


def _find_movie(m: data.Movie) -> Call:
    return Call(
        "get_search_movie", {"movie_name": m.title}, f'I search for the movie "{m.title}" to get its id.'
    )


def _find_person(p: data.Person) -> Call:
    return Call("get_search_person", {"person_name": p.name}, f"I search for {p.name} to get the person id.")


def _director(m: data.Movie) -> int:
    return next(pid for pid, job, _ in m.crew if job == "Director")


def budget(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    calls = [_find_movie(m), Call("get_movie_details", {"movie_id": m.id}, "The details include the budget.")]
    return f'What was the budget of the movie "{m.title}", in US dollars?', m.budget, calls


def director(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    calls = [_find_movie(m), Call("get_movie_crew", {"movie_id": m.id}, "The director is in the crew list.")]
    return f'Who directed the movie "{m.title}"?', db.people[_director(m)].name, calls


def director_birthday(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    d = _director(m)
    calls = [
        _find_movie(m),
        Call("get_movie_crew", {"movie_id": m.id}, "I find the director in the crew."),
        Call("get_person_details", {"person_id": d}, "The director's details give the birthday."),
    ]
    return (
        f'On which date was the director of "{m.title}" born? Answer YYYY-MM-DD.',
        db.people[d].birthday,
        calls,
    )


def character(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    pid, ch = rng.choice(m.cast)
    calls = [
        _find_movie(m),
        Call("get_movie_cast", {"movie_id": m.id}, "The cast list gives the characters."),
    ]
    return f'Which character did {db.people[pid].name} play in "{m.title}"?', ch, calls


def lead_birthplace(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    lead = m.cast[0][0]
    calls = [
        _find_movie(m),
        Call("get_movie_cast", {"movie_id": m.id}, "The lead actor is the first in the cast (order 0)."),
        Call("get_person_details", {"person_id": lead}, "The details give the place of birth."),
    ]
    goal = f'Where was the lead actor of "{m.title}" (the first in its cast) born?'
    return goal, db.people[lead].place_of_birth, calls


def acting_count(rng: random.Random, db: data.MovieDB) -> Made:
    actors = [p for p in db.people.values() if p.department == "Acting"]
    p = rng.choice(actors)
    n = sum(1 for m in db.movies.values() for pid, _ in m.cast if pid == p.id)
    if n == 0:
        return None
    calls = [
        _find_person(p),
        Call("get_person_cast", {"person_id": p.id}, "I count the movies in the acting credits."),
    ]
    return f"In how many movies has {p.name} acted?", n, calls


def companies(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    calls = [
        _find_movie(m),
        Call("get_movie_production_companies", {"movie_id": m.id}, "I list its companies."),
    ]
    goal = f'Which production companies made "{m.title}"? Give all of their names as a list.'
    return goal, [db.companies[c][0] for c in m.companies], calls


def runtime(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    calls = [
        _find_movie(m),
        Call("get_movie_details", {"movie_id": m.id}, "The details include the runtime."),
    ]
    return f'How long is the movie "{m.title}", in minutes?', m.runtime, calls


def countries(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    calls = [
        _find_movie(m),
        Call("get_movie_production_countries", {"movie_id": m.id}, "I list its countries."),
    ]
    goal = f'In which countries was "{m.title}" produced? Give the country names as a list.'
    return goal, [name for _, name in m.countries], calls


def shared_movie(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    actor, d = m.cast[rng.randrange(len(m.cast))][0], _director(m)
    together = [x for x in db.movies.values() if _director(x) == d and any(pid == actor for pid, _ in x.cast)]
    if len(together) != 1:
        return None
    a, b = db.people[actor], db.people[d]
    calls = [
        _find_person(a),
        Call("get_person_cast", {"person_id": a.id}, f"I list the movies {a.name} acted in."),
        _find_person(b),
        Call(
            "get_person_crew",
            {"person_id": b.id},
            f"I list the movies {b.name} worked on; the shared title is the answer.",
        ),
    ]
    return f"Which movie did the actor {a.name} make with the director {b.name}?", m.title, calls


def has_keyword(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    kw = rng.choice(sorted(db.keywords))
    calls = [_find_movie(m), Call("get_movie_keywords", {"movie_id": m.id}, "I check the movie's keywords.")]
    goal = f'Is "{db.keywords[kw]}" one of the keywords of "{m.title}"? Answer yes or no.'
    return goal, "yes" if kw in m.keywords else "no", calls


def genres(rng: random.Random, db: data.MovieDB) -> Made:
    m = rng.choice(list(db.movies.values()))
    calls = [_find_movie(m), Call("get_movie_details", {"movie_id": m.id}, "The details list the genres.")]
    return f'What are the genres of "{m.title}"? Give them as a list.', list(m.genres), calls


TEMPLATES: tuple[Callable[[random.Random, data.MovieDB], Made], ...] = (
    budget, director, director_birthday, character, lead_birthplace, acting_count,
    companies, runtime, countries, shared_movie, has_keyword, genres,
)  # fmt: skip


def _make(attempt: int) -> ToolTask | None:
    rng = make_rng("movie-task", VERSION, attempt)
    build = TEMPLATES[attempt % len(TEMPLATES)]
    made = build(rng, data.database())
    if made is None:
        return None
    goal, answer, calls = made
    return ToolTask(goal, answer, tuple(calls), {}, build.__name__)


@cache
def all_tasks() -> list[ToolTask]:
    return unique_tasks(_make, N_TEST + N_TRAIN, N_TEST)


def splits() -> dict[str, list[int]]:
    return split_ids(N_TEST, N_TRAIN)
