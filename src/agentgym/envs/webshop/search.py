"""BM25 product search with tantivy (an in-memory index, built once per catalog per process).

The shopper's keywords are data, not a query language: we keep only lowercase words and digits,
so ``search[title:"x" AND (y]`` cannot raise a syntax error or run a field/phrase query; the
words are OR-ed BM25 terms over title (boosted), description, features, attributes and category.
Ties are broken by catalog position, so results are deterministic.
"""

from __future__ import annotations

import re
import threading
import time
from array import array
from collections import OrderedDict

import tantivy

from agentgym.envs.webshop.catalog import Catalog

MAX_RESULTS = 50  # the original shows the top 50 hits, 10 per page
MAX_CACHED_QUERY = 200
"""Only queries of at most this many characters (after cleaning) are cached: a real search is a
few words, and a client sending thousands of distinct 4 KB searches must not grow the cache to
gigabytes (4,096 entries x 200 characters + 50 positions stays around 2 MB per catalog)."""
_WORD = re.compile(r"[a-z0-9]+")
_OPERATORS = frozenset({"and", "or", "not", "to", "in"})  # harmless lowercase, but keep the parser plain


def keywords_to_terms(keywords: str) -> list[str]:
    return [w for w in _WORD.findall(keywords.lower()) if w not in _OPERATORS]


class SearchEngine:
    """A read-only tantivy index over a catalog; `search` is safe to call from many threads."""

    def __init__(self, catalog: Catalog, cache_size: int = 4096) -> None:
        t0 = time.perf_counter()
        sb = tantivy.SchemaBuilder()
        sb.add_unsigned_field("pos", stored=True, indexed=False, fast=True)
        for name in ("title", "text", "category"):
            sb.add_text_field(name, stored=False)
        self._schema = sb.build()
        self._index = tantivy.Index(self._schema)
        writer = self._index.writer(heap_size=64_000_000, num_threads=1)
        for pos, p in enumerate(catalog.products):
            doc = tantivy.Document()
            doc.add_unsigned("pos", pos)
            doc.add_text("title", p.title)
            doc.add_text("text", " ".join([p.description, *p.features, *p.attributes]))
            doc.add_text("category", f"{p.category} {p.product_category} {p.query}")
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()
        self._cache: OrderedDict[str, array[int]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.build_seconds = time.perf_counter() - t0
        self.num_docs = len(catalog)

    def search(self, keywords: str, limit: int = MAX_RESULTS) -> list[int]:
        """Catalog positions of the best ``limit`` matches of ``keywords`` (best first)."""
        terms = keywords_to_terms(keywords)
        if not terms:
            return []
        key = " ".join(terms)
        cache = len(key) <= MAX_CACHED_QUERY
        if cache:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit.tolist()[:limit]
        query = self._index.parse_query(
            key, ["title", "text", "category"], field_boosts={"title": 2.0, "category": 1.5}
        )
        top = self._searcher.search(query, max(limit, MAX_RESULTS)).hits
        scored = [(score, self._searcher.doc(addr)["pos"][0]) for score, addr in top]
        scored.sort(key=lambda sp: (-round(sp[0], 6), sp[1]))
        result = [pos for _, pos in scored]
        if cache:
            with self._lock:
                self._cache[key] = array("I", result)
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return result[:limit]
