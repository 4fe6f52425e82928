"""Load the original WebShop product and goal files when they are on disk.

Point ``$WEBSHOP_DATA`` (or ``WebShopEnv(data_path=...)``) at a folder holding
``items_shuffle*.json`` (the products) and ``items_ins_v2*.json`` (per-ASIN attributes and the
shopper instruction). The catalog is then built from those products and the goals are the
original's *synthetic* goals: one per product x option combination, instruction + options +
price bound, shuffled with a fixed seed. Task ids index that shuffled list; test = ids 0..199
(override with a JSON list of ids in ``$WEBSHOP_TEST_IDS``, e.g. AgentEval's ``webshop_test.json``
whose ``item_id``s look like ``webshop_5238``); train = every other id.

Our draws (price bounds, shuffle) use our own RNG, so an id names a goal of the same kind as the
original's but not necessarily the same one.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

from agentgym.core.seeding import make_rng
from agentgym.envs.webshop.catalog import Catalog, Product
from agentgym.envs.webshop.goals import NO_PRICE_BOUND, TEST_SIZE, Goal, option_text, price_text

_PRICE = re.compile(r"\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)")
PRICE_STEPS = [10.0 * i for i in range(1, 100)]
MAX_COMBINATIONS = 50  # per product: a 10 x 12 option grid would otherwise flood the goal list


def _find(folder: Path, pattern: str) -> Path:
    hits = sorted(folder.glob(pattern))
    if not hits:
        raise FileNotFoundError(f"no {pattern} in {folder} (expected the original WebShop data files)")
    return hits[0]


def parse_price(value: Any) -> float | None:
    """``"$12.99"``, ``"$10.00 to $20.00"``, ``12.5`` or ``[12.5, 20]`` -> the lowest price."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list) and value:
        return parse_price(value[0])
    if isinstance(value, str):
        found = [float(m.replace(",", "")) for m in _PRICE.findall(value)]
        return min(found) if found else None
    return None


def _options(raw: Any) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, dict):
        return out
    for name, values in raw.items():
        vals = []
        for v in values or []:
            text = v.get("value") if isinstance(v, dict) else v
            if text is not None and str(text).strip():
                vals.append(str(text).strip().lower())
        if vals:
            out[str(name).strip().lower()] = tuple(dict.fromkeys(vals))
    return out


def _product(raw: dict[str, Any], ins: dict[str, Any]) -> Product | None:
    asin = str(raw.get("asin") or "").strip().upper()
    name = raw.get("name") or raw.get("Title")
    if not asin or not name:
        return None
    bullets = raw.get("small_description") or raw.get("BulletPoints") or []
    if isinstance(bullets, str):
        bullets = [bullets]
    price = parse_price(raw.get("pricing") if raw.get("pricing") is not None else raw.get("Price"))
    extra = ins.get(asin, {})
    return Product(
        asin=asin,
        category=str(raw.get("category") or "").lower(),
        query=str(raw.get("query") or "").lower(),
        product_category=str(raw.get("product_category") or ""),
        title=str(name),
        description=str(raw.get("full_description") or raw.get("Description") or ""),
        features=tuple(str(b) for b in bullets if b),
        attributes=tuple(str(a).lower() for a in extra.get("attributes", raw.get("Attributes", [])) or []),
        options=_options(raw.get("customization_options") or raw.get("options")),
        price=price if price is not None else 0.0,
        rating=None,
    )


def load_original(folder: str | os.PathLike[str]) -> tuple[Catalog, list[Goal]]:
    """The catalog and the shuffled synthetic goals from the original files in ``folder``."""
    folder = Path(folder)
    with open(_find(folder, "items_shuffle*.json"), encoding="utf-8") as f:
        raw_products = json.load(f)
    with open(_find(folder, "items_ins_v2*.json"), encoding="utf-8") as f:
        ins = {str(k).upper(): v for k, v in json.load(f).items()}
    products = []
    seen: set[str] = set()
    for raw in raw_products:
        p = _product(raw, ins)
        if p is not None and p.asin not in seen:
            seen.add(p.asin)
            products.append(p)
    if not products:
        raise ValueError(f"no usable products in {folder}")
    catalog = Catalog(products, source=f"original({folder})")
    goals: list[Goal] = []
    for p in products:
        meta = ins.get(p.asin) or {}
        text = meta.get("instruction")
        attrs = tuple(str(a).lower() for a in meta.get("instruction_attributes") or [])
        if not text or not attrs:
            continue
        rng = make_rng("webshop-original-goal", p.asin)
        steps = [s for s in PRICE_STEPS if s > p.price][:4]
        price_upper = sorted(rng.sample(steps, 2))[1] if len(steps) >= 2 and p.price > 0 else NO_PRICE_BOUND
        names = sorted(p.options)
        combos = itertools.islice(itertools.product(*(p.options[n] for n in names)), MAX_COMBINATIONS)
        for combo in combos:
            opts = dict(zip(names, combo, strict=True))
            instruction = str(text).strip().rstrip(".") + option_text(opts) + price_text(price_upper)
            goals.append(
                Goal(
                    p.asin,
                    p.category,
                    p.query,
                    p.title,
                    instruction,
                    attrs,
                    opts,
                    price_upper,
                    p.product_category,
                )
            )
    make_rng("webshop-original-shuffle", len(goals)).shuffle(goals)
    if len(goals) <= TEST_SIZE:
        raise ValueError(f"only {len(goals)} goals in {folder}: need more than {TEST_SIZE}")
    return catalog, goals


def original_splits(n_goals: int) -> dict[str, list[int]]:
    test = list(range(TEST_SIZE))
    path = os.environ.get("WEBSHOP_TEST_IDS")
    if path:
        with open(path, encoding="utf-8") as f:
            items = json.load(f)
        test = sorted(
            {int(str(it["item_id"] if isinstance(it, dict) else it).rpartition("_")[2]) for it in items}
        )
        test = [i for i in test if 0 <= i < n_goals]
    test_set = set(test)
    return {"train": [i for i in range(n_goals) if i not in test_set], "test": test}
