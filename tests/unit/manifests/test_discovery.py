"""`VirtualServer.spec.discovery`: the short and the long form, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from giru.manifests import load
from giru.manifests.discovery import SearchConfig
from tests.unit.manifests.test_loader import SERVER_A, problems_of, vs


@pytest.mark.parametrize(
    ("discovery", "expected"),
    [
        ("", None),
        ("discovery: list", None),
        ("discovery: search", SearchConfig()),
        ("discovery: {mode: search}", SearchConfig()),
        (
            "discovery: {mode: search, alwaysList: [a__echo, a__add], limit: 3}",
            SearchConfig(always_list=frozenset({"a__echo", "a__add"}), limit=3),
        ),
    ],
)
def test_discovery_compiles_to_a_search_config_or_none(
    tmp_path: Path, discovery: str, expected: SearchConfig | None
) -> None:
    (tmp_path / "m.yaml").write_text(SERVER_A + "---\n" + vs(f"{{servers: [a], {discovery}}}"))
    assert load(tmp_path, environ={}, cwd=tmp_path).virtual_servers["v"].search == expected


@pytest.mark.parametrize(
    ("discovery", "expected"),
    [
        ("discovery: find", "spec.discovery"),
        ("discovery: {mode: list, alwaysList: [a__echo]}", "spec.discovery.alwaysList: only with"),
        ("discovery: {mode: search, alwaysList: [x, x]}", "spec.discovery.alwaysList: names a"),
        ("discovery: {mode: search, limit: 0}", "spec.discovery.limit"),
        ("discovery: {mode: search, limit: 51}", "spec.discovery.limit"),
        ("discovery: {mode: search, alwaysList: ['a b']}", "spec.discovery.alwaysList"),
        ("discovery: {mode: search, top: 3}", "spec.discovery"),
    ],
)
def test_bad_discovery_is_reported_with_its_field(
    tmp_path: Path, discovery: str, expected: str
) -> None:
    problems = problems_of(tmp_path, SERVER_A + "---\n" + vs(f"{{servers: [a], {discovery}}}"))
    assert len(problems) == 1, problems
    assert expected in problems[0]
