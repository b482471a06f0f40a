"""Introspection of opaque tokens: what is asked, what is kept and for how long, and when the
IdP is not asked again (an in-process IdP answering through the `FormPost` seam)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from giru.identity import (
    DocumentError,
    Introspection,
    IntrospectionUnavailableError,
    TokenError,
)
from giru.manifests.config import IntrospectionConfig

ISSUER = "https://idp.example"
RESOURCE = "https://giru.example/mcp"
NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Idp:
    """Discovery and an introspection endpoint; `answers` by token, `failing` raises."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.posts: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.fetches: list[str] = []
        self.failing = False
        self.gate: asyncio.Event | None = None
        self.waiting = 0
        self.all_waiting = asyncio.Event()
        """Set once `expected` posts wait at the gate."""
        self.expected = 0

    async def fetch(self, url: str) -> Any:
        self.fetches.append(url)
        if self.failing:
            raise DocumentError(f"{url} answered 500")
        return {"issuer": ISSUER, "introspection_endpoint": ISSUER + "/introspect"}

    async def post(self, url: str, form: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        self.posts.append((url, dict(form), dict(headers)))
        if self.gate is not None:
            self.waiting += 1
            if self.waiting == self.expected:
                self.all_waiting.set()
            await self.gate.wait()
        if self.failing:
            raise DocumentError(f"{url}: TimeoutError")
        return self.answers.get(form["token"], {"active": False})


def active(exp: float = NOW + 300, **extra: Any) -> dict[str, Any]:
    return {
        "active": True,
        "iss": ISSUER,
        "sub": "sub-alice",
        "email": "alice@example.com",
        "aud": RESOURCE,
        "scope": "mcp",
        "client_id": "agent",
        "exp": exp,
        **extra,
    }


def introspection(
    idp: Idp, clock: Clock, method: str = "client_secret_basic", endpoint: str | None = None
) -> Introspection:
    config = IntrospectionConfig(
        client_id="giru rs",
        client_secret="s:cret",
        endpoint=endpoint,
        auth_method=method,  # type: ignore[arg-type]
    )
    return Introspection(ISSUER, config, (idp.fetch, idp.post), timing=(30, 60, 10), clock=clock)


async def test_an_active_answer_is_kept_at_most_the_max_ttl() -> None:
    idp, clock = Idp(), Clock()
    idp.answers["tok"] = active()
    checker = introspection(idp, clock)
    verified = await checker.verify("tok")
    assert verified.person.email == "alice@example.com"
    assert verified.audiences == (RESOURCE,)
    assert verified.client_id == "agent"
    clock.now += 59
    await checker.verify("tok")
    assert len(idp.posts) == 1
    clock.now += 2
    idp.answers["tok"] = {"active": False}
    with pytest.raises(TokenError, match="not active"):
        await checker.verify("tok")
    assert len(idp.posts) == 2


async def test_an_active_answer_is_kept_no_longer_than_the_token_lives() -> None:
    idp, clock = Idp(), Clock()
    idp.answers["tok"] = active(exp=NOW + 5)
    checker = introspection(idp, clock)
    await checker.verify("tok")
    clock.now += 6
    await checker.verify("tok")  # still within leeway: asked again, not served from the cache
    assert len(idp.posts) == 2


async def test_a_refusal_is_kept_briefly() -> None:
    idp, clock = Idp(), Clock()
    checker = introspection(idp, clock)
    for _ in range(3):
        with pytest.raises(TokenError, match="not active"):
            await checker.verify("unknown")
    assert len(idp.posts) == 1
    clock.now += 11
    with pytest.raises(TokenError):
        await checker.verify("unknown")
    assert len(idp.posts) == 2


async def test_an_unavailable_idp_is_not_remembered() -> None:
    idp, clock = Idp(), Clock()
    idp.answers["tok"] = active()
    checker = introspection(idp, clock, endpoint=ISSUER + "/i")
    idp.failing = True
    with pytest.raises(IntrospectionUnavailableError):
        await checker.verify("tok")
    idp.failing = False
    assert (await checker.verify("tok")).person.subject == "sub-alice"


@pytest.mark.parametrize(
    ("method", "form_keys", "header"),
    [
        ("client_secret_basic", {"token", "token_type_hint"}, "Basic Z2lydSUyMHJzOnMlM0FjcmV0"),
        ("client_secret_post", {"token", "token_type_hint", "client_id", "client_secret"}, None),
    ],
)
async def test_the_client_authenticates_as_configured(
    method: str, form_keys: set[str], header: str | None
) -> None:
    idp, clock = Idp(), Clock()
    await asyncio.gather(introspection(idp, clock, method).verify("t"), return_exceptions=True)
    url, form, headers = idp.posts[0]
    assert url == ISSUER + "/introspect"
    assert set(form) == form_keys
    assert headers.get("authorization") == header


async def test_the_endpoint_is_discovered_once_and_a_failed_discovery_is_not_retried_at_once() -> (
    None
):
    idp, clock = Idp(), Clock()
    idp.failing = True
    checker = introspection(idp, clock)
    with pytest.raises(IntrospectionUnavailableError):
        await checker.verify("a")
    asked = len(idp.fetches)
    with pytest.raises(IntrospectionUnavailableError):
        await checker.verify("b")
    assert len(idp.fetches) == asked
    idp.failing = False
    clock.now += 11
    with pytest.raises(TokenError, match="not active"):
        await checker.verify("c")
    with pytest.raises(TokenError, match="not active"):
        await checker.verify("d")
    assert len(idp.fetches) == asked + 1


async def test_too_many_introspections_in_flight_are_refused_at_once() -> None:
    idp, clock = Idp(), Clock()
    idp.gate, idp.expected = asyncio.Event(), 64
    checker = introspection(idp, clock, endpoint=ISSUER + "/i")

    async def refused(token: str) -> TokenError | None:
        try:
            await checker.verify(token)
        except TokenError as exc:
            return exc
        return None

    async with asyncio.TaskGroup() as group:
        waiting = [group.create_task(refused(f"t{i}")) for i in range(64)]
        await idp.all_waiting.wait()
        with pytest.raises(IntrospectionUnavailableError, match="too many"):
            await checker.verify("one more")
        idp.gate.set()
    assert all(isinstance(task.result(), TokenError) for task in waiting)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (active(iss="https://other.example"), "another issuer"),
        (active(exp=NOW - 60), "expired"),
        (active(nbf=NOW + 120), "not valid yet"),
        ({**active(), "exp": "soon"}, "no exp"),
        (active(token_type="refresh_token"), "not a bearer"),
        (active(cnf={"jkt": "abc"}), "bound to a key"),
        (active(sub=""), "does not name a person"),
        (active(aud=7), "aud"),
        (active(scope=7), "scope"),
    ],
)
async def test_an_active_answer_is_held_to_what_a_jwt_is(
    answer: dict[str, Any], words: str
) -> None:
    idp, clock = Idp(), Clock()
    idp.answers["tok"] = answer
    with pytest.raises(TokenError, match=words):
        await introspection(idp, clock).verify("tok")


@pytest.mark.parametrize("answer", [None, [], {"active": "yes"}, {"sub": "x"}])
async def test_an_answer_without_a_boolean_active_means_the_idp_cannot_tell(answer: Any) -> None:
    idp, clock = Idp(), Clock()
    idp.answers["tok"] = answer
    with pytest.raises(IntrospectionUnavailableError, match="not valid"):
        await introspection(idp, clock).verify("tok")
