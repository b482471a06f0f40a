"""`giru diff` rendering: a unified diff of canonical specs per changed object."""

from __future__ import annotations

from giru.cli.apply import render_diff

LIVE = {"transport": "streamable-http", "url": "https://a.example/mcp", "tags": ["scm"]}


def test_equal_specs_render_nothing() -> None:
    assert render_diff("MCPServer", "github", dict(LIVE), dict(LIVE)) == ""


def test_key_order_alone_is_not_a_difference() -> None:
    reordered = dict(reversed(list(LIVE.items())))
    assert render_diff("MCPServer", "github", LIVE, reordered) == ""


def test_a_one_field_edit_is_one_removed_and_one_added_line() -> None:
    local = {**LIVE, "url": "https://b.example/mcp"}
    assert render_diff("MCPServer", "github", LIVE, local) == (
        "--- live/mcpserver/github\n"
        "+++ local/mcpserver/github\n"
        "@@ -2,4 +2,4 @@\n"
        "   tags:\n"
        "   - scm\n"
        "   transport: streamable-http\n"
        "-  url: https://a.example/mcp\n"
        "+  url: https://b.example/mcp\n"
    )


def test_a_new_object_is_all_additions() -> None:
    text = render_diff("Client", "ci", None, {"servers": ["github"], "tools": []})
    assert text.splitlines() == [
        "--- /dev/null",
        "+++ local/client/ci",
        "@@ -0,0 +1,4 @@",
        "+spec:",
        "+  servers:",
        "+  - github",
        "+  tools: []",
    ]


def test_nested_changes_show_their_context() -> None:
    live = {"timeouts": {"call": 60.0, "callMax": 600.0, "connect": 10.0}}
    local = {"timeouts": {"call": 30.0, "callMax": 600.0, "connect": 10.0}}
    lines = render_diff("MCPServer", "fs", live, local).splitlines()
    assert "-    call: 60.0" in lines
    assert "+    call: 30.0" in lines
    assert "     callMax: 600.0" in lines
