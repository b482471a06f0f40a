"""Canonical specs, field paths of validation errors, and listing cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from giru.errors import ValidationError
from giru.manifests.documents import MCPServerSpec, SubscriptionSpec
from giru.store.specs import canonical, decode_cursor, dump, encode_cursor, ordered, timestamp_text


def test_canonical_fills_defaults_and_uses_camel_case() -> None:
    spec = dump(canonical("MCPServer", "github", {"transport": "stdio", "command": "mcp"}))
    assert spec["timeouts"] == {"connect": 10.0, "call": 60.0, "callMax": 600.0}
    assert (spec["enabled"], spec["isolation"], spec["url"]) == (True, "shared", None)


def test_canonical_form_is_a_fixed_point() -> None:
    raw = {
        "client": "ci",
        "server": "gh",
        "scopeTools": ["a"],
        "expiresAt": "2030-01-01T01:00:00+01:00",
    }
    once = dump(canonical("Subscription", "sub", raw))
    assert once["expiresAt"] == "2030-01-01T00:00:00Z"
    assert dump(canonical("Subscription", "sub", once)) == once


@pytest.mark.parametrize(
    ("kind", "name", "spec", "errors"),
    [
        (
            "MCPServer",
            "gh",
            {"transport": "stdio", "command": "x", "env": {"1BAD": "v"}},
            [
                (
                    "spec.env.1BAD",
                    "key: must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                ),
            ],
        ),
        (
            "Subscription",
            "s",
            {"client": "c", "server": "s", "scopeTools": ["ok", "b@d"]},
            [
                (
                    "spec.scopeTools[1]",
                    "a tool name is 1-128 characters of letters, digits and _ . -",
                ),
            ],
        ),
        ("Client", "c", {"servers": "all"}, [("spec.servers", "must be a valid list")]),
        (
            "Client",
            "c",
            {"apiKeyHash": "sha256:00", "apiKeyEnv": "K"},
            [
                ("spec", "set at most one of apiKeyHash or apiKeyEnv"),
            ],
        ),
        ("Environment", "e", {"size": 1}, [("spec.size", "unknown field")]),
        (
            "Environment",
            "-e",
            {},
            [
                (
                    "metadata.name",
                    "must be lowercase letters, digits and '-', starting and ending with a letter"
                    " or digit",
                ),
            ],
        ),
        (
            "Gadget",
            "g",
            {},
            [
                (
                    "kind",
                    "unknown kind; expected one of MCPServer, VirtualServer, Client, Subscription,"
                    " Environment, Policy, IdentityProvider",
                )
            ],
        ),
    ],
)
def test_invalid_specs_list_every_field_and_reason(
    kind: str, name: str, spec: object, errors: list[tuple[str, str]]
) -> None:
    with pytest.raises(ValidationError) as exc:
        canonical(kind, name, spec)
    assert [(e["field"], e["reason"]) for e in exc.value.data["errors"]] == errors
    assert exc.value.message.startswith(f"{kind}/{name}: ")


def test_ordered_follows_the_models_field_order() -> None:
    values = {"enabled": True, "transport": "sse", "url": "https://x"}
    assert list(ordered(MCPServerSpec, values)) == ["transport", "url", "enabled"]
    assert ordered(SubscriptionSpec, {"status": "active", "unknown": 1}) == {"status": "active"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "2030-01-02T03:04:05Z"),
        (datetime(2030, 1, 2, 3, 4, 5, 600, tzinfo=UTC), "2030-01-02T03:04:05.000600Z"),
    ],
)
def test_timestamps_are_written_like_the_spec_models_write_them(
    value: datetime | None, text: str | None
) -> None:
    assert timestamp_text(value) == text
    if value is not None:
        spec = SubscriptionSpec.model_validate(
            {"client": "c", "server": "s", "scopeType": "all", "startsAt": value}
        )
        assert dump(spec)["startsAt"] == text


def test_an_offset_timestamp_is_normalised_before_it_is_written() -> None:
    plus_two = datetime(2030, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    spec = SubscriptionSpec.model_validate(
        {"client": "c", "server": "s", "scopeType": "all", "startsAt": plus_two}
    )
    assert dump(spec)["startsAt"] == "2030-01-01T00:00:00Z"


@given(st.lists(st.text(), min_size=1, max_size=3))
def test_cursors_round_trip(position: list[str]) -> None:
    cursor = encode_cursor(position)
    assert "=" not in cursor
    assert decode_cursor(cursor, len(position)) == position


@pytest.mark.parametrize(
    ("cursor", "size"),
    [
        ("", 1),
        ("%%%", 1),
        ("bm90IGpzb24", 1),
        (encode_cursor(["a", "b"]), 1),
        ("WzFd", 1),
        ("e30", 1),
    ],
)
def test_foreign_cursors_are_refused(cursor: str, size: int) -> None:
    with pytest.raises(ValidationError) as exc:
        decode_cursor(cursor, size)
    assert exc.value.data["errors"] == [
        {"field": "cursor", "reason": "not a cursor returned by this listing"}
    ]
