"""A session owner's principal with the token the request presented: made once per owner
principal and token, made again when either changes."""

from __future__ import annotations

import dataclasses

from giru.access.clients import ClientPrincipal
from giru.identity import Person, PresentedToken
from giru.proxy.connections import PresentedPrincipals, with_presented

PERSON = Person("https://idp.example", "sub-1", "alice@hospital.example", "Alice", ("nurses",))


def _owner(**changes: object) -> ClientPrincipal:
    owner = ClientPrincipal(
        "user:alice@hospital.example", servers=frozenset({"ehr"}), person=PERSON, agent="claude"
    )
    return dataclasses.replace(owner, **changes)  # type: ignore[arg-type]


def _arrived(value: str) -> ClientPrincipal:
    return _owner(presented=PresentedToken(value, value[:8], 2e9))


def test_the_same_owner_and_token_give_the_same_principal_carrying_that_token() -> None:
    presented = PresentedPrincipals()
    owner, arrived = _owner(), _arrived("token-one")
    first = presented(owner, arrived)
    assert first == with_presented(owner, arrived)
    assert first.presented is arrived.presented  # type: ignore[attr-defined]
    assert presented(owner, arrived) is first


def test_a_new_token_or_a_new_owner_principal_makes_the_principal_again() -> None:
    presented = PresentedPrincipals()
    owner = _owner()
    first = presented(owner, _arrived("token-one"))
    other_token = _arrived("token-two")
    second = presented(owner, other_token)
    assert second.presented is other_token.presented  # type: ignore[attr-defined]
    reloaded = _owner(servers=frozenset({"billing"}))  # a reload's grants
    third = presented(reloaded, other_token)
    assert third.allows_server("billing")
    assert not third.allows_server("ehr")
    assert first is not second


def test_an_api_key_or_another_clients_token_leaves_the_owner_as_it_is() -> None:
    presented = PresentedPrincipals()
    owner = _owner()
    assert presented(owner, None) is owner
    assert presented(owner, ClientPrincipal("ci")) is owner
    stranger = dataclasses.replace(_arrived("token-three"), name="user:bob@hospital.example")
    assert presented(owner, stranger) is owner


def test_it_holds_at_most_its_size() -> None:
    presented = PresentedPrincipals(size=2)
    owner = _owner()
    arrivals = [_arrived(f"token-{n}") for n in range(5)]
    for arrived in arrivals:
        presented(owner, arrived)
    assert len(presented._made) <= 2
