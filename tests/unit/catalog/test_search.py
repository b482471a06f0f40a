"""BM25 tool search: terms, ranking, and the lazily built index."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from giru.catalog.search import LazyIndex, ToolIndex, ToolTags, document_of, terms


def _tool(name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": description, "inputSchema": {"type": "object"}, **extra}


FILES = [
    ("fs", _tool("read_file", "Read the complete contents of a file from disk")),
    ("fs", _tool("writeFile", "Create a new file or overwrite an existing one")),
    ("fs", _tool("list_directory", "List the entries of a directory")),
    ("gh", _tool("create_issue", "Open a new issue in a GitHub repository")),
    ("gh", _tool("search_code", "Search source code across repositories")),
    ("cal", _tool("add_event", "Put an appointment in a calendar", title="New calendar event")),
]


def index(
    tools: list[tuple[str, dict[str, Any]]] = FILES, tags: ToolTags | None = None
) -> ToolIndex:
    labels = tags or ToolTags()
    return ToolIndex([document_of(s, t, labels.of(s, t["name"])) for s, t in tools])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("read_file", ["read", "file"]),
        ("writeFile", ["write", "file"]),
        ("HTTPServer get-URL", ["http", "server", "get", "url"]),
        ("Lists the directories of a repo", ["list", "directori", "repo"]),
        ("a the of", []),
    ],
)
def test_identifiers_and_prose_become_lowercase_stemmed_words(
    text: str, expected: list[str]
) -> None:
    assert terms(text) == expected


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("read a file", ("fs", "read_file")),
        ("write files to disk", ("fs", "writeFile")),
        ("what is in this folder directory", ("fs", "list_directory")),
        ("open a GitHub issue", ("gh", "create_issue")),
        ("schedule a calendar event", ("cal", "add_event")),
    ],
)
def test_the_tool_that_does_what_the_query_says_ranks_first(
    query: str, best: tuple[str, str]
) -> None:
    assert next(index().ranked(query)) == best


def test_only_tools_sharing_a_word_with_the_query_are_found() -> None:
    assert set(index().ranked("repository")) == {("gh", "create_issue"), ("gh", "search_code")}


def test_a_query_with_no_known_word_finds_nothing() -> None:
    assert list(index().ranked("zebra quantum")) == []
    assert list(index().ranked("the of a")) == []


def test_manifest_tags_make_a_tool_findable() -> None:
    tags = ToolTags(servers={"gh": ("vcs",)}, tools={("cal", "add_event"): ("scheduling",)})
    found = index(tags=tags)
    assert set(found.ranked("vcs")) == {("gh", "create_issue"), ("gh", "search_code")}
    assert list(found.ranked("scheduling")) == [("cal", "add_event")]


def test_argument_names_and_titles_are_searched() -> None:
    tool = _tool("t1", inputSchema={"type": "object", "properties": {"latitude": {}}})
    titled = _tool("t2", annotations={"title": "Weather forecast"})
    found = index([("s", tool), ("s", titled)])
    assert list(found.ranked("latitude")) == [("s", "t1")]
    assert list(found.ranked("forecast")) == [("s", "t2")]


def test_an_empty_catalog_finds_nothing() -> None:
    assert list(ToolIndex([]).ranked("anything")) == []


def test_a_tool_without_any_words_is_indexed_and_never_found() -> None:
    found = index([("s", _tool("x")), *FILES])
    assert ("s", "x") not in set(found.ranked("file"))


async def test_the_lazy_index_is_built_once_for_concurrent_first_searches() -> None:
    lazy = LazyIndex(tuple(document_of(s, t) for s, t in FILES))
    first, second = await asyncio.gather(lazy.get(), lazy.get())
    assert first is second
    assert len(first) == len(FILES)
