"""Pure pieces of the config: durations, tool references, the runtime collision check."""

from __future__ import annotations

import pytest

from giru.manifests import check_unprefixed_collisions, parse_duration, split_tool_ref


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (45, 45.0),
        (0.25, 0.25),
    ],
)
def test_durations_parse_to_seconds(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["30", "s", "-1s", "1d", "1 m", True, None, 0, -5, float("inf")])
def test_invalid_durations_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"duration|greater than zero"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("github__search_issues", ("github", "search_issues")),
        ("a__b__c", ("a", "b__c")),  # the server name has no `__`, so the first one splits
        ("a_b", None),
        ("__tool", None),
        ("server__", None),
    ],
)
def test_tool_references_split_at_the_first_double_underscore(
    ref: str, parts: tuple[str, str] | None
) -> None:
    assert split_tool_ref(ref) == parts


def test_unprefixed_tools_unique_across_servers_have_no_problem() -> None:
    assert check_unprefixed_collisions("vs", {"a": ["echo", "add"], "b": ["sum"]}) == []


def test_unprefixed_collisions_name_the_tool_and_every_server() -> None:
    problems = check_unprefixed_collisions(
        "vs", {"c": ["echo"], "a": ["echo", "add", "add"], "b": ["echo", "add"]}
    )
    assert problems == [
        "VirtualServer/vs: tool 'add' is offered by a, b; unprefixed names must be unique"
        " (set prefix: true)",
        "VirtualServer/vs: tool 'echo' is offered by a, b, c; unprefixed names must be unique"
        " (set prefix: true)",
    ]
