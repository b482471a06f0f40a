"""Tool search for large catalogs: BM25 (bm25s) over tool names, titles, descriptions and tags.

An index covers every tool one endpoint offers, whoever asks; a search walks it best first and
the caller keeps only what its own view lists (see `giru.proxy.discovery`). Building is CPU
work (1.5 s for 10,000 tools on 2 shared vCPUs, bench/search.py): `LazyIndex` builds once, in a
worker thread, on the first search after the indexed text changed.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

__all__ = [
    "LazyIndex",
    "Route",
    "ToolDocument",
    "ToolIndex",
    "ToolSearch",
    "ToolTags",
    "document_of",
    "terms",
]

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD: Final = re.compile(r"[a-z0-9]+")
_STOPWORDS: Final = frozenset(STOPWORDS_EN) | {"tool", "tools"}
_TEXT_MAX: Final = 4096
"""Characters of a description that are indexed (a long one still ranks on its start)."""
_NAME_WEIGHT: Final = 2
"""The name's words count twice: a query naming the tool's verb and object should find it."""
_LOCAL: Final = threading.local()

Route = tuple[str, str]
"""(server, name as the server knows it)"""


def terms(text: str) -> list[str]:
    """Lowercase stemmed words of `text`, identifiers split at `_ . - /` and camelCase."""
    words = _WORD.findall(_CAMEL.sub(" ", text).lower())
    kept = [w for w in words if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())]
    return list(_stemmer().stemWords(kept)) if kept else []


def _stemmer() -> Any:
    """A Snowball stemmer per thread (one PyStemmer object must not serve two threads)."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = Stemmer.Stemmer("english")
    return stemmer


@dataclass(frozen=True, slots=True)
class ToolTags:
    """Tags the manifests give tools: each server's, then each tool's own (`spec.tools`)."""

    servers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tools: Mapping[Route, tuple[str, ...]] = field(default_factory=dict)

    def of(self, server: str, tool: str) -> tuple[str, ...]:
        return (*self.servers.get(server, ()), *self.tools.get((server, tool), ()))


@dataclass(frozen=True, slots=True)
class ToolDocument:
    """One tool as the index sees it: where it routes, and the text it is found by (made
    into terms when the index is built, off the event loop)."""

    route: Route
    text: str


def document_of(server: str, tool: dict[str, Any], tags: Iterable[str] = ()) -> ToolDocument:
    """The text of an upstream tool definition: name (twice), titles, description, tags, the
    names of its arguments and its server's name."""
    name = str(tool.get("name", ""))
    annotations = tool.get("annotations")
    titles = (
        tool.get("title"),
        annotations.get("title") if isinstance(annotations, dict) else None,
    )
    schema = tool.get("inputSchema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    description = tool.get("description")
    parts = [
        *([name] * _NAME_WEIGHT),
        *(t for t in titles if isinstance(t, str)),
        description[:_TEXT_MAX] if isinstance(description, str) else "",
        " ".join(tags),
        " ".join(properties) if isinstance(properties, dict) else "",
        server,
    ]
    return ToolDocument((server, name), " \n".join(parts))


class ToolIndex:
    """BM25 over a fixed list of documents; `ranked` is cheap (a sparse dot product)."""

    def __init__(self, documents: Sequence[ToolDocument]) -> None:
        self.routes: tuple[Route, ...] = tuple(d.route for d in documents)
        self._bm25 = bm25s.BM25()
        self._vocabulary: frozenset[str] = frozenset()
        if documents:
            # bm25s wants at least one term per document; an empty one matches nothing
            corpus = [terms(d.text) or [""] for d in documents]
            self._bm25.index(corpus, show_progress=False)
            self._vocabulary = frozenset(self._bm25.vocab_dict)

    def __len__(self) -> int:
        return len(self.routes)

    def ranked(self, query: str) -> Iterator[Route]:
        """Routes of the documents matching at least one of the query's terms, best first
        (ties in catalog order)."""
        wanted = [t for t in dict.fromkeys(terms(query)) if t in self._vocabulary and t]
        if not wanted:
            return
        scores = self._bm25.get_scores(wanted)
        matching = np.flatnonzero(scores > 0)
        order = matching[np.argsort(-scores[matching], kind="stable")]
        for position in order:
            yield self.routes[int(position)]


@dataclass(slots=True, eq=False)
class LazyIndex:
    """The index of `documents`, built on first use in a worker thread; concurrent first
    searches wait for the one build."""

    documents: tuple[ToolDocument, ...]
    _index: ToolIndex | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> ToolIndex:
        if self._index is None:
            async with self._lock:
                if self._index is None:
                    self._index = await asyncio.to_thread(ToolIndex, self.documents)
        return self._index


@dataclass(frozen=True, slots=True)
class ToolSearch:
    """A `discovery: search` endpoint's settings and its (shared) index."""

    index: LazyIndex
    always_list: frozenset[str] = frozenset()
    limit: int = 8
