"""The academia tools (AgentBoard's names: loadPaperNet, neighbourCheck, ...) over `academia.data`.

As the original, a graph must be loaded (``loadPaperNet`` / ``loadAuthorNet``) before the check
tools can use it; the loaded flags are per episode, the graph itself is shared and read-only.
"""

from __future__ import annotations

from typing import Any

from agentgym.envs.tools.academia import data
from agentgym.envs.tools.base import Toolbox, ToolError, as_str, tool

GRAPHS = ("PaperNet", "AuthorNet")


class AcademiaTools(Toolbox):
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.g = data.graph()
        self.loaded: set[str] = set()

    def _need(self, graph: str) -> None:
        if graph not in self.loaded:
            raise ToolError(f"the {graph} is not loaded: call load{graph} first")

    def _paper(self, node: Any, name: str = "node") -> data.Paper:
        self._need("PaperNet")
        title = as_str(node, name)
        paper = self.g.papers.get(title) or next(
            (p for t, p in self.g.papers.items() if t.casefold() == title.casefold()), None
        )
        if paper is None:
            raise ToolError(f"there is no paper titled {title!r} in the PaperNet")
        return paper

    def _author(self, node: Any, name: str = "node") -> data.Author:
        self._need("AuthorNet")
        key = as_str(node, name)
        author = self.g.authors.get(key) or next(
            (a for n, a in self.g.authors.items() if n.casefold() == key.casefold()), None
        )
        if author is None:
            raise ToolError(f"there is no author named {key!r} in the AuthorNet")
        return author

    @tool("Load the PaperNet: papers (nodes, by title) and citations (edges).")
    def loadPaperNet(self) -> str:  # the original tool name
        self.loaded.add("PaperNet")
        return "PaperNet is loaded."

    @tool("Load the AuthorNet: authors (nodes, by name) and collaborations (edges).")
    def loadAuthorNet(self) -> str:
        self.loaded.add("AuthorNet")
        return "AuthorNet is loaded."

    @tool(
        'List the neighbours of a node. graph is "PaperNet" (node: a paper title; its neighbours are the '
        'papers it cites) or "AuthorNet" (node: an author name; its neighbours are the collaborators).'
    )
    def neighbourCheck(self, graph: Any, node: Any) -> list[str]:
        which = as_str(graph, "graph")
        if which not in GRAPHS:
            raise ToolError(f'graph must be "PaperNet" or "AuthorNet", not {which!r}')
        if which == "PaperNet":
            return list(self._paper(node).cites)
        return self.g.collaborators(self._author(node).name)

    @tool("Get the attributes of a paper node (authors, year, venue, citation count, keywords, type).")
    def paperNodeCheck(self, node: Any) -> dict[str, Any]:
        p = self._paper(node)
        return {
            "title": p.title, "authors": p.authors, "year": p.year, "venue": p.venue,
            "n_citation": p.n_citation, "keywords": p.keywords, "doc_type": p.doc_type,
        }  # fmt: skip

    @tool("Get the attributes of an author node (name, organization, papers).")
    def authorNodeCheck(self, node: Any) -> dict[str, Any]:
        a = self._author(node)
        return {"name": a.name, "org": a.org, "papers": a.papers}

    @tool("Get the edge between two authors: the papers they wrote together.")
    def authorEdgeCheck(self, node1: Any, node2: Any) -> dict[str, Any]:
        a, b = self._author(node1, "node1"), self._author(node2, "node2")
        shared = self.g.coauthors.get(frozenset((a.name, b.name)))
        if not shared:
            raise ToolError(f"there is no edge between {a.name} and {b.name} in the AuthorNet")
        return {"collaborative_papers": shared}

    @tool("Get the edge from paper node1 to paper node2: whether node1 cites node2.", 'the edge or "None"')
    def paperEdgeCheck(self, node1: Any, node2: Any) -> Any:
        a, b = self._paper(node1, "node1"), self._paper(node2, "node2")
        if b.title in a.cites:
            return {"source": a.title, "target": b.title, "relation": "cites"}
        return "None"
