"""Giru's sealed envelope: opens only for the binding and kind it was sealed for, before expiry."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from giru.proxy.envelopes import (
    SEALED_PREFIX,
    Binding,
    EnvelopeError,
    Envelopes,
    client_principal,
    envelope_key,
)

KEY = envelope_key(b"node-secret-0123456789")
ALICE = Binding(client_principal("alice"), "/mcp", "tools/call", "fixture__multi_round")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_sealed_value_opens_for_its_own_binding() -> None:
    envelopes = Envelopes(KEY)
    token = envelopes.seal("requestState", "round=2;name=alice", ALICE, 60)
    assert token.startswith(SEALED_PREFIX)
    assert envelopes.open("requestState", token, ALICE) == "round=2;name=alice"


def test_the_sealed_value_is_not_readable_in_the_token() -> None:
    token = Envelopes(KEY).seal("requestState", "round=2;name=alice", ALICE, 60)
    body = token[len(SEALED_PREFIX) :]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert b"alice" not in raw
    assert "alice" not in token


def test_any_json_value_round_trips() -> None:
    envelopes = Envelopes(KEY)
    value = {"round": 2, "answers": ["a", None, 1.5]}
    assert envelopes.open("requestState", envelopes.seal("requestState", value, ALICE, 60), ALICE)


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("principal", client_principal("bob")),
        ("endpoint", "/mcp/solo"),
        ("method", "prompts/get"),
        ("target", "fixture__other_tool"),
    ],
)
def test_another_binding_is_refused_naming_what_differs(field: str, other: str) -> None:
    envelopes = Envelopes(KEY)
    token = envelopes.seal("requestState", "s", ALICE, 60)
    with pytest.raises(EnvelopeError) as refused:
        envelopes.open("requestState", token, dataclasses.replace(ALICE, **{field: other}))
    assert refused.value.reason == field


def test_a_value_sealed_as_another_kind_is_refused() -> None:
    envelopes = Envelopes(KEY)
    token = envelopes.seal("cursor", "s", ALICE, 60)
    with pytest.raises(EnvelopeError) as refused:
        envelopes.open("requestState", token, ALICE)
    assert refused.value.reason == "kind"


def test_an_expired_value_is_refused() -> None:
    clock = Clock()
    envelopes = Envelopes(KEY, clock=clock)
    token = envelopes.seal("requestState", "s", ALICE, 60)
    clock.now += 59
    assert envelopes.open("requestState", token, ALICE) == "s"
    clock.now += 2
    with pytest.raises(EnvelopeError) as refused:
        envelopes.open("requestState", token, ALICE)
    assert refused.value.reason == "expired"


def test_a_value_sealed_under_another_key_is_refused() -> None:
    foreign = Envelopes(envelope_key(b"another-node-secret-0123")).seal(
        "requestState", "s", ALICE, 60
    )
    with pytest.raises(EnvelopeError) as refused:
        Envelopes(KEY).open("requestState", foreign, ALICE)
    assert refused.value.reason == "tampered"


def test_workers_sharing_the_node_secret_open_each_others_values() -> None:
    token = Envelopes(envelope_key(b"node-secret-0123456789")).seal("requestState", "s", ALICE, 60)
    assert Envelopes(envelope_key(b"node-secret-0123456789")).open("requestState", token, ALICE)


@pytest.mark.parametrize("offset", [0, 5, 20, 40])
def test_a_tampered_value_is_refused(offset: int) -> None:
    """One character changed in the nonce, the ciphertext or the tag (never the last one,
    whose low bits may carry no data)."""
    envelopes = Envelopes(KEY)
    token = envelopes.seal("requestState", "round=2;name=alice", ALICE, 60)
    position = len(SEALED_PREFIX) + offset
    flipped = "A" if token[position] != "A" else "B"
    tampered = token[:position] + flipped + token[position + 1 :]
    with pytest.raises(EnvelopeError) as refused:
        envelopes.open("requestState", tampered, ALICE)
    assert refused.value.reason in ("tampered", "malformed")


@pytest.mark.parametrize(
    "token",
    [
        "round=2;name=alice",
        "",
        None,
        42,
        SEALED_PREFIX,
        SEALED_PREFIX + "!!!",
        SEALED_PREFIX + "AAAA",
        "giru1.w1~abc.123.def",
        SEALED_PREFIX + "A" * (1 << 20),
    ],
)
def test_anything_that_is_not_an_envelope_is_refused(token: object) -> None:
    with pytest.raises(EnvelopeError):
        Envelopes(KEY).open("requestState", token, ALICE)


def test_the_key_is_derived_not_the_secret_itself() -> None:
    assert len(KEY) == 32
    assert envelope_key(b"node-secret-0123456789") == KEY
    assert envelope_key(b"node-secret-0123456780") != KEY
