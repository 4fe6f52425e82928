"""The local citation graph: generated papers, authors, venues, years and citations.

Stands in for AgentBoard's academia pickles (an AMiner/DBLP extract that was never shipped with
AgentGym). Two graphs over one dataset, as the original tools see them:

* **PaperNet** - nodes are paper titles; a directed edge ``a -> b`` means paper ``a`` cites ``b``
  (a paper only cites older ones);
* **AuthorNet** - nodes are author names; an undirected edge joins two authors who wrote a paper
  together and carries those papers.

Built once per process from a fixed seed; read-only, so all sessions share it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache
from itertools import combinations

from agentgym.core.seeding import make_rng

VERSION = "1"
N_PAPERS, N_AUTHORS = 260, 140

VENUES = (
    ("ACL", "Conference"), ("EMNLP", "Conference"), ("NeurIPS", "Conference"), ("ICML", "Conference"),
    ("ICLR", "Conference"), ("CVPR", "Conference"), ("KDD", "Conference"), ("SIGIR", "Conference"),
    ("AAAI", "Conference"), ("TACL", "Journal"), ("JMLR", "Journal"), ("TPAMI", "Journal"),
)  # fmt: skip
ORGS = (
    "Tsinghua University",
    "Fudan University",
    "Stanford University",
    "MIT",
    "ETH Zurich",
    "University of Toronto",
    "University of Edinburgh",
    "KAIST",
    "University of Tokyo",
    "Carnegie Mellon University",
    "Max Planck Institute for Informatics",
    "University of Washington",
    "Peking University",
    "University of Amsterdam",
    "Mila",
    "National University of Singapore",
)
METHOD = (
    "Contrastive",
    "Sparse",
    "Hierarchical",
    "Adaptive",
    "Robust",
    "Efficient",
    "Self-Supervised",
    "Graph-Based",
    "Federated",
    "Multilingual",
    "Causal",
    "Probabilistic",
    "Neural",
    "Retrieval-Augmented",
)
MODEL = ("Transformers", "Embeddings", "Attention", "Agents", "Planning", "Representations",
         "Decoding", "Pretraining", "Distillation", "Reasoning", "Memory Networks", "Diffusion Models")  # fmt: skip
TASK = (
    "Question Answering",
    "Machine Translation",
    "Image Segmentation",
    "Recommendation",
    "Link Prediction",
    "Text Summarization",
    "Dialogue Systems",
    "Code Generation",
    "Entity Linking",
    "Speech Recognition",
    "Tool Use",
    "Time Series Forecasting",
    "Information Retrieval",
    "Object Detection",
)
FIRST = ("Wei Lin Yu Hao Jing Xin Ming Akira Yuki Sven Anja Marco Elena Pierre Chloe Rahul Priya Omar Leila "
         "Diego Lucia Tomas Ingrid Kofi Amara Jonas Mei Hiro").split()  # fmt: skip
LAST = ("Zhang Wang Liu Chen Zhao Huang Zhou Wu Xu Sun Tanaka Suzuki Kim Lee Park Muller Rossi Garcia "
        "Dubois Novak Singh Patel Haddad Mensah Ivanova Berg Costa Moreau").split()  # fmt: skip


@dataclass
class Paper:
    title: str
    year: int
    venue: str
    doc_type: str
    authors: list[str]
    keywords: list[str]
    n_citation: int = 0
    cites: list[str] = field(default_factory=list)


@dataclass
class Author:
    name: str
    org: str
    papers: list[str] = field(default_factory=list)


@dataclass
class Graph:
    papers: dict[str, Paper]
    authors: dict[str, Author]
    coauthors: dict[frozenset[str], list[str]]  # AuthorNet edges -> shared paper titles

    def collaborators(self, author: str) -> list[str]:
        return sorted(next(iter(pair - {author})) for pair in self.coauthors if author in pair)


def _unique(rng: random.Random, n: int, make: object) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        x = make(rng)  # type: ignore[operator]
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


@cache
def graph() -> Graph:
    """The citation graph (built once per process, deterministic)."""
    rng = make_rng("academia-graph", VERSION)
    names = _unique(rng, N_AUTHORS, lambda r: f"{r.choice(FIRST)} {r.choice(LAST)}")
    authors = {n: Author(n, rng.choice(ORGS)) for n in names}
    titles = _unique(
        rng,
        N_PAPERS,
        lambda r: r.choice(
            (
                f"{r.choice(METHOD)} {r.choice(MODEL)} for {r.choice(TASK)}",
                f"Towards {r.choice(METHOD)} {r.choice(TASK)} with {r.choice(MODEL)}",
                f"On the {r.choice(('Limits', 'Power', 'Stability', 'Scaling'))} of {r.choice(METHOD)} {r.choice(MODEL)}",
            )
        ),
    )
    papers: dict[str, Paper] = {}
    # a few groups of authors who often work together make the AuthorNet interesting
    groups = [rng.sample(names, 6) for _ in range(25)]
    for i, title in enumerate(titles):
        year = 2005 + i * 19 // N_PAPERS  # older papers first, so citations point backwards
        venue, doc_type = rng.choice(VENUES)
        group = rng.choice(groups)
        team = rng.sample(group, rng.randint(1, 3)) + rng.sample(names, rng.randint(0, 2))
        team = list(dict.fromkeys(team))
        words = [w.lower() for w in title.replace("-", " ").split() if len(w) > 4][:4]
        paper = Paper(title, year, venue, doc_type, team, words)
        older = [t for t in papers if papers[t].year < year]
        if older:
            paper.cites = sorted(rng.sample(older, min(len(older), rng.randint(0, 6))))
        papers[title] = paper
        for a in team:
            authors[a].papers.append(title)
    for p in papers.values():
        for c in p.cites:
            papers[c].n_citation += 1
    for p in papers.values():
        p.n_citation += rng.randint(0, 400)  # citations from outside this extract
    coauthors: dict[frozenset[str], list[str]] = {}
    for p in papers.values():
        for a, b in combinations(sorted(p.authors), 2):
            coauthors.setdefault(frozenset((a, b)), []).append(p.title)
    return Graph(papers, authors, coauthors)
