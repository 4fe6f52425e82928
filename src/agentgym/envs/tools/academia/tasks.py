"""Academia tasks generated from the citation graph, with answers and the expert's calls (2-4 each)."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache

from agentgym.core.seeding import make_rng
from agentgym.envs.tools.academia import data
from agentgym.envs.tools.base import Call, ToolTask, split_ids, unique_tasks

N_TEST, N_TRAIN = 20, 300
VERSION = data.VERSION

Made = tuple[str, object, list[Call]] | None
PAPERS = Call("loadPaperNet", {}, "I load the PaperNet first.")
AUTHORS = Call("loadAuthorNet", {}, "I load the AuthorNet first.")


def _paper(rng: random.Random, g: data.Graph) -> data.Paper:
    return g.papers[rng.choice(sorted(g.papers))]


def _author(rng: random.Random, g: data.Graph) -> data.Author:
    return g.authors[rng.choice(sorted(n for n, a in g.authors.items() if a.papers))]


def _pnode(p: data.Paper, why: str) -> Call:
    return Call("paperNodeCheck", {"node": p.title}, why)


def _anode(a: data.Author, why: str) -> Call:
    return Call("authorNodeCheck", {"node": a.name}, why)


def venue(rng: random.Random, g: data.Graph) -> Made:
    p = _paper(rng, g)
    return (
        f'At which venue was the paper "{p.title}" published?',
        p.venue,
        [PAPERS, _pnode(p, "The node has the venue.")],
    )


def year(rng: random.Random, g: data.Graph) -> Made:
    p = _paper(rng, g)
    return (
        f'In which year was the paper "{p.title}" published?',
        p.year,
        [PAPERS, _pnode(p, "The node has the year.")],
    )


def references(rng: random.Random, g: data.Graph) -> Made:
    p = _paper(rng, g)
    calls = [
        PAPERS,
        Call(
            "neighbourCheck",
            {"graph": "PaperNet", "node": p.title},
            "Its neighbours are the papers it cites.",
        ),
    ]
    return f'How many papers in the PaperNet does "{p.title}" cite?', len(p.cites), calls


def collaborators(rng: random.Random, g: data.Graph) -> Made:
    a = _author(rng, g)
    calls = [
        AUTHORS,
        Call(
            "neighbourCheck", {"graph": "AuthorNet", "node": a.name}, "Its neighbours are the collaborators."
        ),
    ]
    return f"How many collaborators does {a.name} have in the AuthorNet?", len(g.collaborators(a.name)), calls


def organization(rng: random.Random, g: data.Graph) -> Made:
    a = _author(rng, g)
    return (
        f"Which organization is {a.name} affiliated with?",
        a.org,
        [AUTHORS, _anode(a, "The author node has the org.")],
    )


def coauthored(rng: random.Random, g: data.Graph) -> Made:
    pair, shared = rng.choice(sorted(g.coauthors.items(), key=lambda kv: sorted(kv[0])))
    if len(shared) != 1:
        return None
    a, b = sorted(pair)
    calls = [
        AUTHORS,
        Call("authorEdgeCheck", {"node1": a, "node2": b}, "The edge between them lists their papers."),
    ]
    return f"Which paper did {a} and {b} write together?", shared[0], calls


def cites(rng: random.Random, g: data.Graph) -> Made:
    p = rng.choice([x for x in g.papers.values() if x.cites])
    if rng.random() < 0.5:
        q, answer = g.papers[rng.choice(p.cites)], "yes"
    else:
        q = _paper(rng, g)
        answer = "yes" if q.title in p.cites else "no"
    if q.title == p.title:
        return None
    calls = [
        PAPERS,
        Call("paperEdgeCheck", {"node1": p.title, "node2": q.title}, "I check the edge between them."),
    ]
    return f'Does the paper "{p.title}" cite "{q.title}"? Answer yes or no.', answer, calls


def first_author_org(rng: random.Random, g: data.Graph) -> Made:
    p = _paper(rng, g)
    first = g.authors[p.authors[0]]
    calls = [PAPERS, _pnode(p, "The paper node lists its authors, the first author first."),
             AUTHORS, _anode(first, f"Now the organization of {first.name}.")]  # fmt: skip
    return f'Which organization is the first author of "{p.title}" affiliated with?', first.org, calls


def citations(rng: random.Random, g: data.Graph) -> Made:
    p = _paper(rng, g)
    calls = [PAPERS, _pnode(p, "The node has the citation count.")]
    return f'How many citations does the paper "{p.title}" have?', p.n_citation, calls


def paper_count(rng: random.Random, g: data.Graph) -> Made:
    a = _author(rng, g)
    calls = [AUTHORS, _anode(a, "The author node lists the papers.")]
    return f"How many papers has {a.name} written?", len(a.papers), calls


def common_collaborators(rng: random.Random, g: data.Graph) -> Made:
    a = _author(rng, g)
    friends = g.collaborators(a.name)
    if not friends:
        return None
    b = g.authors[rng.choice(friends)]
    both = sorted(set(friends) & set(g.collaborators(b.name)))
    if not 1 <= len(both) <= 4:
        return None
    calls = [AUTHORS,
             Call("neighbourCheck", {"graph": "AuthorNet", "node": a.name}, f"I list {a.name}'s collaborators."),
             Call("neighbourCheck", {"graph": "AuthorNet", "node": b.name}, f"Now {b.name}'s; the answer is the overlap.")]  # fmt: skip
    return f"Who has collaborated with both {a.name} and {b.name}? Give the names as a list.", both, calls


def venue_of_reference(rng: random.Random, g: data.Graph) -> Made:
    p = rng.choice([x for x in g.papers.values() if len(x.cites) == 1])
    q = g.papers[p.cites[0]]
    calls = [PAPERS,
             Call("neighbourCheck", {"graph": "PaperNet", "node": p.title}, "I find the paper it cites."),
             _pnode(q, "Now the venue of the cited paper.")]  # fmt: skip
    return (
        f'"{p.title}" cites exactly one paper in the PaperNet. At which venue was that paper published?',
        q.venue,
        calls,
    )


TEMPLATES: tuple[Callable[[random.Random, data.Graph], Made], ...] = (
    venue, references, collaborators, organization, coauthored, cites, first_author_org,
    citations, paper_count, common_collaborators, year, venue_of_reference,
)  # fmt: skip


def _make(attempt: int) -> ToolTask | None:
    rng = make_rng("academia-task", VERSION, attempt)
    build = TEMPLATES[attempt % len(TEMPLATES)]
    made = build(rng, data.graph())
    if made is None:
        return None
    goal, answer, calls = made
    return ToolTask(goal, answer, tuple(calls), {}, build.__name__)


@cache
def all_tasks() -> list[ToolTask]:
    return unique_tasks(_make, N_TEST + N_TRAIN, N_TEST)


def splits() -> dict[str, list[int]]:
    return split_ids(N_TEST, N_TRAIN)
