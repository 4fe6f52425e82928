"""The movie tools (the original TMDB-style names and arguments) over `movie.data`."""

from __future__ import annotations

from typing import Any

from agentgym.envs.tools.base import Toolbox, ToolError, as_int, as_str, tool
from agentgym.envs.tools.movie import data

MAX_RESULTS = 10


class MovieTools(Toolbox):
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.db = data.database()  # read-only: shared by every session

    def _movie(self, movie_id: Any) -> data.Movie:
        mid = as_int(movie_id, "movie_id")
        if mid not in self.db.movies:
            raise ToolError(f"no movie with id {mid} (get_search_movie finds a movie's id)")
        return self.db.movies[mid]

    def _person(self, person_id: Any) -> data.Person:
        pid = as_int(person_id, "person_id")
        if pid not in self.db.people:
            raise ToolError(f"no person with id {pid} (get_search_person finds a person's id)")
        return self.db.people[pid]

    @tool("Search movies by title (case-insensitive; a part of the title works too).",
          "matching movies with their id, title and release date")  # fmt: skip
    def get_search_movie(self, movie_name: Any) -> dict[str, Any]:
        key = as_str(movie_name, "movie_name").casefold()
        found = [m for m in self.db.movies.values() if key in m.title.casefold()]
        found.sort(key=lambda m: (m.title.casefold() != key, m.title))
        return {
            "results": [
                {"id": m.id, "title": m.title, "release_date": m.release_date} for m in found[:MAX_RESULTS]
            ]
        }

    @tool(
        "Get the details of a movie: release date, runtime (minutes), budget and revenue (USD), rating, genres, language, overview."
    )
    def get_movie_details(self, movie_id: Any) -> dict[str, Any]:
        m = self._movie(movie_id)
        return {
            "id": m.id, "title": m.title, "release_date": m.release_date, "runtime": m.runtime,
            "budget": m.budget, "revenue": m.revenue, "vote_average": m.vote_average,
            "genres": m.genres, "original_language": m.language, "overview": m.overview,
        }  # fmt: skip

    @tool("Get the production companies of a movie.")
    def get_movie_production_companies(self, movie_id: Any) -> dict[str, Any]:
        m = self._movie(movie_id)
        return {
            "production_companies": [
                {"id": c, "name": self.db.companies[c][0], "origin_country": self.db.companies[c][1]}
                for c in m.companies
            ]
        }

    @tool("Get the production countries of a movie.")
    def get_movie_production_countries(self, movie_id: Any) -> dict[str, Any]:
        m = self._movie(movie_id)
        return {"production_countries": [{"iso_3166_1": code, "name": name} for code, name in m.countries]}

    @tool("Get the keywords of a movie.")
    def get_movie_keywords(self, movie_id: Any) -> dict[str, Any]:
        m = self._movie(movie_id)
        return {"keywords": [{"id": k, "name": self.db.keywords[k]} for k in m.keywords]}

    @tool("Search people (actors and crew) by name.", "matching people with their id, name and department")
    def get_search_person(self, person_name: Any) -> dict[str, Any]:
        key = as_str(person_name, "person_name").casefold()
        found = [p for p in self.db.people.values() if key in p.name.casefold()]
        found.sort(key=lambda p: (p.name.casefold() != key, p.name))
        return {
            "results": [
                {"id": p.id, "name": p.name, "known_for_department": p.department}
                for p in found[:MAX_RESULTS]
            ]
        }

    @tool(
        "Get the details of a person: birthday, deathday, gender (1 female, 2 male), place of birth, department."
    )
    def get_person_details(self, person_id: Any) -> dict[str, Any]:
        p = self._person(person_id)
        return {
            "id": p.id, "name": p.name, "birthday": p.birthday, "deathday": p.deathday, "gender": p.gender,
            "place_of_birth": p.place_of_birth, "known_for_department": p.department,
        }  # fmt: skip

    @tool("Get the cast of a movie, in billing order (order 0 is the lead).")
    def get_movie_cast(self, movie_id: Any) -> dict[str, Any]:
        m = self._movie(movie_id)
        return {
            "cast": [
                {"id": pid, "name": self.db.people[pid].name, "character": ch, "order": i}
                for i, (pid, ch) in enumerate(m.cast)
            ]
        }

    @tool("Get the crew of a movie (director, writers, producers, composer, cinematographer).")
    def get_movie_crew(self, movie_id: Any) -> dict[str, Any]:
        m = self._movie(movie_id)
        return {
            "crew": [
                {"id": pid, "name": self.db.people[pid].name, "job": job, "department": dept}
                for pid, job, dept in m.crew
            ]
        }

    @tool("Get the movies a person acted in, with the character played.")
    def get_person_cast(self, person_id: Any) -> dict[str, Any]:
        p = self._person(person_id)
        rows = [(m, ch) for m in self.db.movies.values() for pid, ch in m.cast if pid == p.id]
        rows.sort(key=lambda r: r[0].release_date)
        return {
            "cast": [
                {"movie_id": m.id, "title": m.title, "character": ch, "release_date": m.release_date}
                for m, ch in rows
            ]
        }

    @tool("Get the movies a person worked on as crew, with the job.")
    def get_person_crew(self, person_id: Any) -> dict[str, Any]:
        p = self._person(person_id)
        rows = [(m, job, d) for m in self.db.movies.values() for pid, job, d in m.crew if pid == p.id]
        rows.sort(key=lambda r: r[0].release_date)
        return {
            "crew": [
                {
                    "movie_id": m.id,
                    "title": m.title,
                    "job": job,
                    "department": d,
                    "release_date": m.release_date,
                }
                for m, job, d in rows
            ]
        }
