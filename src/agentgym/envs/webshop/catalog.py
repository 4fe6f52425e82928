"""The product catalog: generated from a seed (default) or loaded from the original WebShop files.

A generated catalog is a pure function of ``(seed, num_products)``: product ``i`` is drawn from its
own RNG derived from ``(seed, i)``, so the first 1,000 products are the same whatever the catalog
size, and building 100k products needs no more than a loop (no global state). Products are plain
frozen dataclasses, shared read-only by every session of the process.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from agentgym.core.seeding import make_rng
from agentgym.envs.webshop.words import (
    ADJECTIVES,
    CATEGORIES,
    DESCRIPTION_CLOSERS,
    DESCRIPTION_OPENERS,
    FEATURE_DETAILS,
    FEATURE_TEMPLATES,
    REVIEW_TEXTS,
    CategorySpec,
)

DEFAULT_NUM_PRODUCTS = 2000
MIN_NUM_PRODUCTS = 1000


@dataclass(frozen=True, slots=True)
class Product:
    """One product as the env and the reward see it (fields named after the original's)."""

    asin: str
    category: str  # top-level category, e.g. "shoes"
    query: str  # the product type a shopper searches for, e.g. "men's hiking boots"
    product_category: str  # breadcrumb, e.g. "Clothing, Shoes & Jewelry › Shoes › Men's Hiking Boots"
    title: str
    description: str
    features: tuple[str, ...]
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]] = field(hash=False, compare=False)
    price: float = 0.0
    rating: float | None = None
    reviews: tuple[tuple[int, str], ...] = ()

    def option_group(self, value: str) -> str | None:
        """The option group that offers ``value`` (values are unique within a product)."""
        for group, values in self.options.items():
            if value in values:
                return group
        return None


def _asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))


def _title_case(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in text.split())


def make_product(seed: int, index: int) -> Product:
    """Product ``index`` of the catalog with ``seed`` (independent of the catalog size)."""
    rng = make_rng("webshop-product", seed, index)
    cat: CategorySpec = CATEGORIES[index % len(CATEGORIES)]
    ptype = rng.choice(cat.types)
    brand = rng.choice(cat.brands)
    attrs = tuple(rng.sample(cat.attributes, rng.randint(3, 5)))
    options: dict[str, tuple[str, ...]] = {}
    for group, values in cat.options.items():
        if rng.random() < 0.85:  # a few products have no choice in a group
            k = rng.randint(2, min(6, len(values)))
            picked = set(rng.sample(values, k))
            options[group] = tuple(v for v in values if v in picked)  # catalog order, as a shop shows
    lo, hi = cat.price
    price = round(rng.uniform(lo, hi), 2)
    price = float(int(price)) + rng.choice((0.99, 0.49, 0.95, 0.0))
    in_title = attrs[: rng.randint(1, 2)]
    title = f"{brand} {_title_case(rng.choice(ADJECTIVES))} {_title_case(ptype)}"
    title += " - " + ", ".join(_title_case(a) for a in in_title)
    if rng.random() < 0.5:
        title += f" ({rng.choice(['New Model', '2024 Edition', 'Bestseller', 'Value Pack', 'Gift Ready'])})"
    opener = rng.choice(DESCRIPTION_OPENERS).format(type=ptype, brand=brand)
    body = f"It is {', '.join(attrs[:-1])} and {attrs[-1]}."
    description = f"{opener} {body} {rng.choice(DESCRIPTION_CLOSERS)}"
    features = tuple(
        rng.choice(FEATURE_TEMPLATES).format(
            Attr=a.capitalize(), ATTR=a.upper(), detail=rng.choice(FEATURE_DETAILS)
        )
        for a in attrs
    )
    rating = None if rng.random() < 0.3 else round(rng.uniform(3.0, 5.0), 1)
    reviews = tuple((rng.randint(2, 5), rng.choice(REVIEW_TEXTS)) for _ in range(rng.randint(0, 3)))
    return Product(
        asin=_asin(rng),
        category=cat.name,
        query=ptype,
        product_category=f"{cat.department} › {_title_case(cat.name)} › {_title_case(ptype)}",
        title=title,
        description=description,
        features=features,
        attributes=attrs,
        options=options,
        price=round(price, 2),
        rating=rating,
        reviews=reviews,
    )


@dataclass
class Catalog:
    """All products, by position and by ASIN."""

    products: list[Product]
    source: str = "generated"
    by_asin: dict[str, Product] = field(init=False)

    def __post_init__(self) -> None:
        self.by_asin = {}
        for p in self.products:
            if p.asin in self.by_asin:
                raise ValueError(f"duplicate ASIN {p.asin} in the {self.source} catalog")
            self.by_asin[p.asin] = p

    def __len__(self) -> int:
        return len(self.products)


def generate_catalog(num_products: int = DEFAULT_NUM_PRODUCTS, seed: int = 0) -> Catalog:
    """The generated catalog: ``num_products`` (>= 1,000) products across every category."""
    if num_products < MIN_NUM_PRODUCTS:
        raise ValueError(f"num_products must be >= {MIN_NUM_PRODUCTS}, got {num_products}")
    products: list[Product] = []
    seen: set[str] = set()
    for i in range(num_products):
        p = make_product(seed, i)
        while p.asin in seen:  # astronomically rare; re-draw the ASIN deterministically
            p = _with_asin(p, _asin(make_rng("webshop-asin", seed, i, p.asin)))
        seen.add(p.asin)
        products.append(p)
    return Catalog(products, source=f"generated(seed={seed}, n={num_products})")


def _with_asin(p: Product, asin: str) -> Product:
    from dataclasses import replace

    return replace(p, asin=asin)
