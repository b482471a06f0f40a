"""The sealed `state` of a connection flow: bound, expiring, single use, tamper-evident."""

from __future__ import annotations

import hashlib

import pytest

from giru.credentials.connections.states import TTL_S, FlowStates, StateError

KEY = bytes(range(32))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _states(clock: Clock, key: bytes = KEY) -> FlowStates:
    return FlowStates(lambda purpose: hashlib.sha256(key + purpose.encode()).digest(), clock=clock)


def test_a_state_opens_to_the_person_and_server_it_was_made_for() -> None:
    states = _states(Clock())
    state, made = states.new("github", "sub-alice", "alice@example.com", "user:alice@example.com")
    opened = states.open(state)
    assert opened == made
    assert (opened.server, opened.subject, opened.label) == (
        "github",
        "sub-alice",
        "alice@example.com",
    )
    assert "sub-alice" not in state


def test_the_pkce_verifier_is_derived_from_the_flow_and_differs_between_flows() -> None:
    states = _states(Clock())
    _, first = states.new("github", "a", "a", "a")
    _, second = states.new("github", "a", "a", "a")
    assert states.verifier(first) == states.verifier(first)
    assert states.verifier(first) != states.verifier(second)
    assert 43 <= len(states.verifier(first)) <= 128


def test_an_expired_state_is_refused() -> None:
    clock = Clock()
    states = _states(clock)
    state, _ = states.new("github", "a", "a", "a")
    clock.now += TTL_S + 1
    with pytest.raises(StateError, match="expired"):
        states.open(state)


def test_a_used_state_is_refused_the_second_time() -> None:
    states = _states(Clock())
    state, _ = states.new("github", "a", "a", "a")
    states.use(states.open(state))
    with pytest.raises(StateError, match="already completed"):
        states.use(states.open(state))


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],
        lambda s: "gc1." + "A" * 80,
        lambda s: "not-giru",
        lambda s: "",
        lambda s: s + "A" * 3000,
        lambda s: "gc1.%%%",
    ],
    ids=["altered", "made up", "not ours", "empty", "too long", "not base64"],
)
def test_a_state_giru_did_not_seal_is_refused(forge: object) -> None:
    states = _states(Clock())
    state, _ = states.new("github", "a", "a", "a")
    assert callable(forge)
    with pytest.raises(StateError, match="unknown state"):
        states.open(forge(state))


def test_a_state_sealed_under_another_key_is_refused() -> None:
    clock = Clock()
    state, _ = _states(clock, bytes(32)).new("github", "a", "a", "a")
    with pytest.raises(StateError, match="unknown state"):
        _states(clock).open(state)
