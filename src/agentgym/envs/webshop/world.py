"""The shared, read-only part of WebShop: catalog + search index + goals, built once per process.

Every `WebShopEnv` of a process with the same configuration gets the same `World` (a lock makes
sure concurrent first sessions build it once). Sessions only read it; their own state lives in
`agentgym.envs.webshop.pages.Browser`.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from agentgym.envs.webshop.catalog import DEFAULT_NUM_PRODUCTS, Catalog, generate_catalog
from agentgym.envs.webshop.goals import GeneratedGoals, Goal, split_ids
from agentgym.envs.webshop.search import SearchEngine

DATA_ENV_VAR = "WEBSHOP_DATA"


class GoalSource(Protocol):
    def __getitem__(self, goal_id: int) -> Goal: ...
    def __len__(self) -> int: ...


@dataclass
class World:
    catalog: Catalog
    engine: SearchEngine
    goals: GoalSource
    splits: dict[str, list[int]]
    build_seconds: float

    def __post_init__(self) -> None:
        self.valid_ids = frozenset(i for ids in self.splits.values() for i in ids)


_worlds: dict[tuple[str, int, int], World] = {}
_lock = threading.Lock()


def data_path_from_env() -> str | None:
    path = os.environ.get(DATA_ENV_VAR)
    return path or None


def world_key(num_products: int | None, seed: int, data_path: str | None) -> tuple[str, int, int]:
    if data_path:
        return (os.path.abspath(data_path), 0, 0)
    return ("", seed, num_products or DEFAULT_NUM_PRODUCTS)


def get_world(num_products: int | None = None, seed: int = 0, data_path: str | None = None) -> World:
    """The world for this configuration, built on first use and then shared."""
    key = world_key(num_products, seed, data_path)
    world = _worlds.get(key)
    if world is not None:
        return world
    with _lock:
        world = _worlds.get(key)
        if world is None:
            world = _worlds[key] = _build(key)
    return world


def _build(key: tuple[str, int, int]) -> World:
    t0 = time.perf_counter()
    path, seed, n = key
    if path:
        from agentgym.envs.webshop.original import load_original, original_splits

        catalog, goal_list = load_original(path)
        engine = SearchEngine(catalog)
        return World(catalog, engine, goal_list, original_splits(len(goal_list)), time.perf_counter() - t0)
    catalog = generate_catalog(n, seed)
    engine = SearchEngine(catalog)
    return World(catalog, engine, GeneratedGoals(catalog, seed), split_ids(n), time.perf_counter() - t0)
