"""Tool-name rules: the charset (M5) and look-alike detection (M6)."""

from __future__ import annotations

import pytest

from giru.catalog.names import skeleton, valid_tool_name


@pytest.mark.parametrize("name", ["echo", "get_weather", "files.read", "a-b", "x" * 128])
def test_valid_names_are_accepted(name: str) -> None:
    assert valid_tool_name(name)


@pytest.mark.parametrize(
    "name", ["", "../../etc", "a/b", "with space", "a,b", "s\u0435nd", "x" * 129, None, 3]
)
def test_names_outside_the_charset_are_refused(name: object) -> None:
    assert not valid_tool_name(name)


@pytest.mark.parametrize(
    ("first", "second"),
    [("send_email", "send_emaiI"), ("send_email", "Send_Email"), ("modern", "rnodern"),
     ("tool0", "toolO"), ("drop-table", "drop_table")],
)  # fmt: skip
def test_look_alikes_share_a_skeleton(first: str, second: str) -> None:
    assert skeleton(first) == skeleton(second)


@pytest.mark.parametrize(("first", "second"), [("read", "write"), ("get_a", "get_b")])
def test_different_names_have_different_skeletons(first: str, second: str) -> None:
    assert skeleton(first) != skeleton(second)
