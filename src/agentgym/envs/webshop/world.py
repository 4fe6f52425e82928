"""The shared, read-only part of WebShop: catalog + search index + goals, built once per configuration.

Every `WebShopEnv` of a process with the same configuration gets the same `World` (a lock makes
sure concurrent first sessions build it once). Sessions only read it; their own state lives in
`agentgym.envs.webshop.pages.Browser`.

**The cache is bounded.** A client may pick a catalog ``seed`` and size (`WebShopOptions`), and
each new pair builds a world of about 4-5 KB per product (8-10 MB for the default 2,000): kept
forever, a client walking through seeds would grow the server without limit. So:

* the server's own worlds are *pinned* - the original data (``$WEBSHOP_DATA`` /
  ``data_path``, a server setting, slow to load) and the default generated catalog (seed 0,
  2,000 products, what a session without kwargs uses);
* every other world sits in an LRU holding at most ``$AGENTGYM_WEBSHOP_CACHE_MB`` megabytes
  (default 256; ``0`` caches none), by the world's approximate size (`World.approx_bytes`);
  the variable is read at every insertion, so it can be changed without a restart;
* an evicted world stays valid for the sessions using it (each holds a reference), and while one
  does, a new session with the same configuration gets that same world back (a weak index), not
  a second copy. Memory held by live sessions is bounded by the env's session capacity times
  the largest world `WebShopOptions` allows.

`cache_info` reports the LRU's entries and bytes (for tests and operators).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from agentgym.envs.webshop.catalog import DEFAULT_NUM_PRODUCTS, Catalog, generate_catalog
from agentgym.envs.webshop.goals import GeneratedGoals, Goal, split_ids
from agentgym.envs.webshop.search import SearchEngine

DATA_ENV_VAR = "WEBSHOP_DATA"
CACHE_ENV_VAR = "AGENTGYM_WEBSHOP_CACHE_MB"
DEFAULT_CACHE_MB = 256.0
MB = 1 << 20
_BYTES_PER_CHAR = 4
"""Python strings, the tantivy index's postings and stored text, per character of product text."""
_BYTES_PER_PRODUCT = 2500
"""Object headers, the by-ASIN dict, the search index's per-doc overhead and the goals built on
demand (about two per product). With `_BYTES_PER_CHAR`: 9.6 MB for 2,000 generated products,
a little above the 8.3 MB a new seed was measured to add to a server's RSS."""

log = logging.getLogger(__name__)

WorldKey = tuple[str, int, int]


class GoalSource(Protocol):
    def __getitem__(self, goal_id: int) -> Goal: ...
    def __len__(self) -> int: ...


@dataclass(eq=False)
class World:
    catalog: Catalog
    engine: SearchEngine
    goals: GoalSource
    splits: dict[str, list[int]]
    build_seconds: float
    approx_bytes: int = 0
    """What the world costs the LRU (`estimate_bytes`; 0 for the pinned original data)."""

    def __post_init__(self) -> None:
        self.valid_ids = frozenset(i for ids in self.splits.values() for i in ids)


def estimate_bytes(catalog: Catalog) -> int:
    """The approximate memory of a world over ``catalog`` (its products' text, index and goals)."""
    chars = 0
    for p in catalog.products:
        chars += len(p.title) + len(p.description) + len(p.product_category) + len(p.query)
        chars += sum(map(len, p.features)) + sum(map(len, p.attributes))
        chars += sum(len(v) for values in p.options.values() for v in values)
        chars += sum(len(text) for _, text in p.reviews)
    return _BYTES_PER_CHAR * chars + _BYTES_PER_PRODUCT * len(catalog)


_pinned: dict[WorldKey, World] = {}
_lru: OrderedDict[WorldKey, World] = OrderedDict()
_lru_bytes = 0
_alive: weakref.WeakValueDictionary[WorldKey, World] = weakref.WeakValueDictionary()
_cache_lock = threading.Lock()  # held only for dict bookkeeping, never while building
_build_lock = threading.Lock()  # one build at a time: two sessions never build the same world twice
_warned: set[str] = set()


def data_path_from_env() -> str | None:
    path = os.environ.get(DATA_ENV_VAR)
    return path or None


def world_key(num_products: int | None, seed: int, data_path: str | None) -> WorldKey:
    if data_path:
        return (os.path.abspath(data_path), 0, 0)
    return ("", seed, num_products or DEFAULT_NUM_PRODUCTS)


def is_pinned(key: WorldKey) -> bool:
    """The server's own worlds (original data, default catalog) are never evicted."""
    return bool(key[0]) or key == ("", 0, DEFAULT_NUM_PRODUCTS)


def cache_limit_bytes() -> int:
    """``$AGENTGYM_WEBSHOP_CACHE_MB`` in bytes (a bad value logs a warning and means the default)."""
    raw = os.environ.get(CACHE_ENV_VAR, "").strip()
    if not raw:
        return int(DEFAULT_CACHE_MB * MB)
    try:
        mb = float(raw)
        if not mb >= 0 or mb == float("inf"):
            raise ValueError
    except ValueError:
        if raw not in _warned:
            _warned.add(raw)
            log.warning("%s=%r is not a size in MB >= 0; using %s", CACHE_ENV_VAR, raw, DEFAULT_CACHE_MB)
        return int(DEFAULT_CACHE_MB * MB)
    return int(mb * MB)


def cache_info() -> dict[str, Any]:
    """The LRU's state: ``entries``, ``bytes`` (approximate), ``limit_bytes``; plus the counts of
    ``pinned`` worlds and of ``alive`` ones (cached or still used by a session)."""
    with _cache_lock:
        return {
            "entries": len(_lru),
            "bytes": _lru_bytes,
            "limit_bytes": cache_limit_bytes(),
            "pinned": len(_pinned),
            "alive": len(_alive),
        }


def get_world(num_products: int | None = None, seed: int = 0, data_path: str | None = None) -> World:
    """The world for this configuration, built on first use and then shared (see the module doc)."""
    key = world_key(num_products, seed, data_path)
    world = _lookup(key)
    if world is not None:
        return world
    with _build_lock:
        world = _lookup(key)  # built by another thread while this one waited
        if world is None:
            world = _build(key)
            _store(key, world)
    return world


def _lookup(key: WorldKey) -> World | None:
    with _cache_lock:
        world = _pinned.get(key)
        if world is not None:
            return world
        world = _lru.get(key)
        if world is not None:
            _lru.move_to_end(key)
            return world
        world = _alive.get(key)  # evicted, but a live session still uses it: share it again
    if world is not None:
        _store(key, world)
    return world


def _store(key: WorldKey, world: World) -> None:
    global _lru_bytes
    with _cache_lock:
        _alive[key] = world
        if is_pinned(key):
            _pinned[key] = world
            return
        if key in _lru:
            return
        _lru[key] = world
        _lru_bytes += world.approx_bytes
        limit = cache_limit_bytes()
        while _lru and _lru_bytes > limit:  # least recently used first; may drop the new one too
            _, old = _lru.popitem(last=False)
            _lru_bytes -= old.approx_bytes


def _build(key: WorldKey) -> World:
    t0 = time.perf_counter()
    path, seed, n = key
    if path:
        from agentgym.envs.webshop.original import load_original, original_splits

        catalog, goal_list = load_original(path)
        engine = SearchEngine(catalog)
        return World(catalog, engine, goal_list, original_splits(len(goal_list)), time.perf_counter() - t0)
    catalog = generate_catalog(n, seed)
    engine = SearchEngine(catalog)
    goals = GeneratedGoals(catalog, seed)
    return World(catalog, engine, goals, split_ids(n), time.perf_counter() - t0, estimate_bytes(catalog))
