"""Per-env random number generators.

Every env owns a `random.Random` (and, where it needs one, a `numpy.random.Generator`) derived from
(env id, env version, task id, seed) with a stable hash: never Python's `hash()` (salted per
process) and never the global `random` module (which concurrent sessions would race on - the
original TextCraft server handed 1 in 192 concurrent sessions another session's task that way).
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(*parts: object) -> int:
    """A 63-bit seed that depends only on ``parts`` (stable across processes and machines)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def make_rng(*parts: object) -> random.Random:
    """A private `random.Random` seeded from ``parts``."""
    return random.Random(derive_seed(*parts))


def make_np_rng(*parts: object):
    """A private `numpy.random.Generator` seeded from ``parts`` (imports numpy lazily)."""
    import numpy as np

    return np.random.default_rng(derive_seed(*parts))
