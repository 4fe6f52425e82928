"""The shop's pages as text, in the original's ``[SEP]``-joined text mode, and the navigation.

Pages: search (a search bar), results (10 per page of the top 50, ``< Prev`` / ``Next >``), item
(options, ``Description``, ``Features``, ``Reviews``, ``Buy Now``) and the three item sub-pages.
Every page starts with the instruction, as the original's text observations do. `Browser` holds
one session's navigation state and applies ``search[...]`` / ``click[...]``; clickables are
matched lowercase, as in the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentgym.envs.webshop.catalog import Catalog, Product
from agentgym.envs.webshop.search import SearchEngine

SEP = " [SEP] "
PER_PAGE = 10
BACK = "back to search"
PREV = "< prev"
NEXT = "next >"
BUY = "buy now"
SUBPAGES = {"description": "Description", "features": "Features", "reviews": "Reviews"}

PageKind = Literal["search", "results", "item", "description", "features", "reviews"]


@dataclass
class PageState:
    kind: PageKind = "search"
    keywords: str = ""
    page: int = 1
    asin: str | None = None


@dataclass
class Browser:
    """One shopper's position in the shop; pages are rendered from it on demand."""

    catalog: Catalog
    engine: SearchEngine
    instruction: str
    state: PageState = field(default_factory=PageState)
    results: list[int] = field(default_factory=list)
    selected: dict[str, str] = field(default_factory=dict)
    searches: int = 0
    note: str = ""

    # ------------------------------------------------------------------ queries
    @property
    def product(self) -> Product | None:
        return self.catalog.by_asin.get(self.state.asin) if self.state.asin else None

    def has_search_bar(self) -> bool:
        return self.state.kind == "search"

    def n_pages(self) -> int:
        return max(1, -(-len(self.results) // PER_PAGE))

    def page_products(self) -> list[Product]:
        start = (self.state.page - 1) * PER_PAGE
        return [self.catalog.products[i] for i in self.results[start : start + PER_PAGE]]

    def clickables(self) -> list[str]:
        """The lowercase labels that ``click[...]`` accepts on the current page."""
        s = self.state
        if s.kind == "search":
            return ["search"]
        if s.kind == "results":
            out = [BACK]
            if s.page > 1:
                out.append(PREV)
            if s.page < self.n_pages():
                out.append(NEXT)
            return out + [p.asin.lower() for p in self.page_products()]
        if s.kind == "item":
            p = self.product
            assert p is not None
            opts = [v for values in p.options.values() for v in values]
            return [BACK, PREV, *opts, *SUBPAGES, BUY]
        return [BACK, PREV]

    # ------------------------------------------------------------------ rendering
    def render(self) -> str:
        s = self.state
        head = ["Instruction:", self.instruction]
        if s.kind == "search":
            return SEP.join(["WebShop", *head, "Search"])
        parts = [*head, "Back to Search"]
        if s.kind == "results":
            parts.append(f"Page {s.page} (Total results: {len(self.results)})")
            if s.page > 1:
                parts.append("< Prev")
            if s.page < self.n_pages():
                parts.append("Next >")
            for hit in self.page_products():
                parts += [hit.asin, hit.title, f"${hit.price:.2f}"]
        else:
            p = self.product
            assert p is not None
            parts.append("< Prev")
            if s.kind == "item":
                for group, values in p.options.items():
                    parts += [group, *values]
                rating = "N.A." if p.rating is None else f"{p.rating:.1f} out of 5"
                parts += [
                    p.title,
                    f"Price: ${p.price:.2f}",
                    f"Rating: {rating}",
                    *SUBPAGES.values(),
                    "Buy Now",
                ]
            elif s.kind == "description":
                parts.append(p.description)
            elif s.kind == "features":
                parts += list(p.features)
            else:
                parts += [f"{stars} stars: {text}" for stars, text in p.reviews] or ["No reviews yet."]
        text = SEP.join(parts)
        return f"{self.note}{SEP}{text}" if self.note else text

    # ------------------------------------------------------------------ actions
    def search(self, keywords: str) -> None:
        self.results = self.engine.search(keywords)
        self.searches += 1
        self.state = PageState("results", keywords, 1)
        self.note = ""

    def click(self, label: str) -> bool:
        """Apply a click on a current clickable (lowercase); False if the label is not one.

        Returns True for "buy now" without changing the page: the env ends the episode there.
        """
        label = label.strip().lower()
        if label not in self.clickables():
            return False
        s = self.state
        self.note = ""
        if label == BACK or label == "search":
            self.state = PageState("search")
            self.results, self.selected = [], {}
        elif label == NEXT:
            s.page += 1
        elif label == PREV and s.kind == "results":
            s.page -= 1
        elif label == PREV and s.kind == "item":
            self.state = PageState("results", s.keywords, s.page)
        elif label == PREV:
            self.state = PageState("item", s.keywords, s.page, s.asin)
        elif s.kind == "results":
            self.state = PageState("item", s.keywords, s.page, label.upper())
            self.selected = {}
        elif label in SUBPAGES:
            self.state = PageState(label, s.keywords, s.page, s.asin)  # type: ignore[arg-type]
        elif label != BUY:
            p = self.product
            assert p is not None
            group = p.option_group(label)
            assert group is not None
            self.selected[group] = label
            self.note = f"You have clicked {label}."
        return True
