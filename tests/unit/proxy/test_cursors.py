"""Giru's pagination cursors: sealed offsets that only the caller they were handed to can use."""

from __future__ import annotations

import dataclasses

import pytest

from giru.proxy.cursors import Cursors
from giru.proxy.envelopes import Binding, Envelopes, RefusedValueError, envelope_key

ITEMS = tuple({"name": f"tool-{i}"} for i in range(7))
ALICE = Binding("client:alice", "/mcp", "tools/list", "")


def _cursors() -> Cursors:
    return Cursors(Envelopes(envelope_key(b"node-secret-0123456789")))


def test_pages_follow_each_other_until_the_last_has_no_cursor() -> None:
    cursors = _cursors()
    first = cursors.page(ITEMS, "tools", None, 3, ALICE)
    second = cursors.page(ITEMS, "tools", {"cursor": first["nextCursor"]}, 3, ALICE)
    last = cursors.page(ITEMS, "tools", {"cursor": second["nextCursor"]}, 3, ALICE)
    names = [t["name"] for page in (first, second, last) for t in page["tools"]]
    assert names == [t["name"] for t in ITEMS]
    assert "nextCursor" not in last


@pytest.mark.parametrize(
    ("field", "other"),
    [("principal", "client:bob"), ("endpoint", "/mcp/solo"), ("method", "prompts/list")],
)
def test_a_cursor_handed_to_another_caller_or_list_is_refused(field: str, other: str) -> None:
    cursors = _cursors()
    cursor = cursors.page(ITEMS, "tools", None, 3, ALICE)["nextCursor"]
    with pytest.raises(RefusedValueError, match="Invalid cursor") as refused:
        cursors.page(
            ITEMS, "tools", {"cursor": cursor}, 3, dataclasses.replace(ALICE, **{field: other})
        )
    assert refused.value.detail == f"cursor refused: {field}"


@pytest.mark.parametrize("cursor", ["", "Z2lydTp0b29sczoz", 3, "giru2.AAAA"])
def test_a_cursor_giru_did_not_seal_is_refused(cursor: object) -> None:
    with pytest.raises(RefusedValueError, match="Invalid cursor"):
        _cursors().page(ITEMS, "tools", {"cursor": cursor}, 3, ALICE)


def test_a_cursor_of_another_list_is_refused() -> None:
    cursors = _cursors()
    cursor = cursors.page(ITEMS, "tools", None, 3, ALICE)["nextCursor"]
    with pytest.raises(RefusedValueError, match="Invalid cursor"):
        cursors.page(ITEMS, "resources", {"cursor": cursor}, 3, ALICE)
