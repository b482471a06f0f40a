"""`SignInTokens`: a broker-mode person's IdP access token from their sign-in's refresh token:
refreshed once (also when asked concurrently), the rotated refresh token stored first, kept
until shortly before expiry, and a clear 'sign in again' error (audited, no token in it) when
there is no sign-in or the IdP refuses it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

import pytest

from giru.audit import AuditRecord
from giru.credentials.connections import Caller
from giru.credentials.oauth import TokenTrail
from giru.credentials.sign_ins import SignInTokens
from giru.errors import CredentialsUnavailableError
from giru.identity.broker.relying_party import SignIn, SignInError
from giru.identity.broker.server import Broker
from giru.identity.broker.storage import Family
from giru.identity.people import Person

PERSON = Person(subject="sub-alice", issuer="https://idp.example", email="alice@example.com")
ALICE = Caller("sub-alice", "alice@example.com")


class Store:
    def __init__(self, family: Family | None) -> None:
        self.family = family
        self.stored: list[str | None] = []

    async def sign_in_of(self, subject: str, now: datetime) -> Family | None:
        return self.family if self.family and self.family.person.subject == subject else None

    async def refreshed(
        self, family_id: str, person: Person, refresh_token: str | None, now: datetime
    ) -> None:
        self.stored.append(refresh_token)


class Idp:
    def __init__(self, store: Store, *, refuse: bool = False) -> None:
        self.store = store
        self.refuse = refuse
        self.refreshes = 0
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def refresh(self, refresh_token: str, person: Person) -> SignIn:
        self.refreshes += 1
        self.entered.set()
        await self.gate.wait()
        if self.refuse:
            raise SignInError("the IdP refused the refresh token (invalid_grant)")
        n = self.refreshes
        assert self.store.stored == [f"rt-{i}" for i in range(1, n)]  # stored before next use
        return SignIn(person, f"rt-{n}", f"idp-at-{n}", 120.0)


class Audit:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def record(self, record: AuditRecord) -> None:
        self.records.append(record)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def tokens(*, family: bool = True, refuse: bool = False) -> tuple[SignInTokens, Idp, Audit, Clock]:
    expires = datetime(2100, 1, 1, tzinfo=UTC)
    store = Store(Family("f1", "client", "r", "mcp", PERSON, expires, "rt-0") if family else None)
    idp = Idp(store, refuse=refuse)
    broker = cast(Broker, type("B", (), {"store": store, "idp": idp})())
    audit, clock = Audit(), Clock()
    return SignInTokens(broker, TokenTrail(audit), clock=clock), idp, audit, clock


async def test_the_idp_token_is_refreshed_once_and_kept_until_shortly_before_it_expires() -> None:
    signins, idp, _, clock = tokens()
    first = await signins.subject_token("files", ALICE)
    assert first.value == "idp-at-1"
    assert first.expires_at == clock.now + 120
    clock.now += 80
    assert await signins.subject_token("files", ALICE) is first
    assert signins.peek(ALICE) is first
    clock.now += 15  # 25 s left: refreshed, with the rotated refresh token
    assert (await signins.subject_token("files", ALICE)).value == "idp-at-2"
    assert idp.refreshes == 2


async def test_concurrent_calls_of_one_person_share_one_refresh() -> None:
    signins, idp, _, _ = tokens()
    idp.gate.clear()
    async with asyncio.TaskGroup() as group:
        waiting = [group.create_task(signins.subject_token("files", ALICE)) for _ in range(5)]
        await idp.entered.wait()  # the first is at the IdP; the others wait for its answer
        idp.gate.set()
    assert {t.result().value for t in waiting} == {"idp-at-1"}
    assert idp.refreshes == 1


@pytest.mark.parametrize(("family", "refuse"), [(False, False), (True, True)])
async def test_no_sign_in_or_a_refused_one_says_sign_in_again_and_is_audited(
    family: bool, refuse: bool
) -> None:
    signins, _, audit, _ = tokens(family=family, refuse=refuse)
    with pytest.raises(CredentialsUnavailableError, match="must sign in again"):
        await signins.subject_token("files", ALICE)
    [record] = audit.records
    assert record["actor"] == "user:alice@example.com"
    assert record["outcome"] == "error"
    assert record["target"] == "sign-in-refresh"
    assert "rt-0" not in str(record)
    assert signins.peek(ALICE) is None
