"""aiohttp sessions from `egress_session`: every connection and every redirect is checked."""

from __future__ import annotations

import aiohttp
import pytest

from giru.egress import (
    PUBLIC,
    UPSTREAMS,
    RedirectRefusedError,
    egress_connector,
    egress_refusal,
    egress_session,
    refuse_redirect,
)
from tests.unit.egress.conftest import FakeResolver, Origin

DNS = {
    "good.test": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "nowhere.test": ["0.0.0.0"],
    "mixed.test": ["127.0.0.1", "169.254.169.254"],
    "mapped.test": ["::ffff:169.254.169.254"],
}


def _session(**kwargs: bool) -> aiohttp.ClientSession:
    connector = egress_connector(UPSTREAMS, resolver=FakeResolver(DNS))
    return egress_session(UPSTREAMS, connector=connector, **kwargs)


async def _refusal(session: aiohttp.ClientSession, method: str, url: str) -> str:
    with pytest.raises(aiohttp.ClientError) as caught:
        async with session.request(method, url):
            pass
    refused = egress_refusal(caught.value)
    assert refused is not None, caught.value
    return refused.reason


async def test_an_allowed_name_and_an_allowed_literal_connect(origin: Origin) -> None:
    async with _session() as http:
        for host in ("good.test", "127.0.0.1"):
            async with http.get(origin.url("/ok", host)) as response:
                assert response.status == 200
    assert origin.hits["/ok"] == 2


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        (
            "metadata.test",
            "metadata.test resolves to 169.254.169.254: address 169.254.169.254 is link-local"
            " (cloud metadata lives there)",
        ),
        ("nowhere.test", "nowhere.test resolves to 0.0.0.0: address 0.0.0.0 is unspecified"),
        (
            "mixed.test",
            "mixed.test resolves to 169.254.169.254: address 169.254.169.254 is link-local"
            " (cloud metadata lives there)",
        ),
        (
            "mapped.test",
            "mapped.test resolves to ::ffff:169.254.169.254: address 169.254.169.254 is"
            " link-local (cloud metadata lives there)",
        ),
    ],
)
async def test_a_name_that_resolves_to_a_refused_address_is_refused_before_connecting(
    origin: Origin, host: str, reason: str
) -> None:
    async with _session() as http:
        assert await _refusal(http, "POST", origin.url("/ok", host)) == reason
    assert origin.hits["/ok"] == 0


async def test_a_refused_ip_literal_is_refused_at_the_socket(origin: Origin) -> None:
    async with _session() as http:
        for host in ("0.0.0.0", "[::ffff:0.0.0.0]"):
            reason = await _refusal(http, "POST", origin.url("/ok", host))
            assert reason == "address 0.0.0.0 is unspecified"
    assert origin.hits["/ok"] == 0


@pytest.mark.parametrize("allow_redirects", [True, False])
async def test_a_redirect_is_refused_whatever_the_request_asks(
    origin: Origin, allow_redirects: bool
) -> None:
    target = origin.url("/ok", "0.0.0.0")
    async with _session() as http:
        with pytest.raises(RedirectRefusedError) as caught:
            async with http.post(
                origin.url("/redirect"), params={"to": target}, allow_redirects=allow_redirects
            ):
                pass
    assert isinstance(caught.value, aiohttp.ClientError)
    assert (caught.value.status, caught.value.location) == (307, target)
    assert origin.hits == {"/redirect": 1}


async def test_a_request_without_the_middleware_refuses_a_redirect_with_refuse_redirect(
    origin: Origin,
) -> None:
    target = origin.url("/ok", "0.0.0.0")
    async with _session() as http:
        async with http.post(
            origin.url("/redirect"), params={"to": target}, allow_redirects=False, middlewares=()
        ) as response:
            with pytest.raises(RedirectRefusedError) as caught:
                refuse_redirect(response)
        async with http.get(origin.url("/ok"), middlewares=()) as ok:
            refuse_redirect(ok)  # not a redirect: nothing to refuse
    assert isinstance(caught.value, aiohttp.ClientError)
    assert (caught.value.status, caught.value.location) == (307, target)
    assert origin.hits == {"/redirect": 1, "/ok": 1}


async def test_a_cookie_an_origin_sets_is_never_sent_back(origin: Origin) -> None:
    async with _session() as http:
        for _ in range(2):
            async with http.get(origin.url("/ok", "good.test")) as response:
                assert "origin" in response.cookies
    assert origin.hits["/ok"] == 2
    assert origin.cookies == []


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("0.0.0.0", "address 0.0.0.0 is unspecified"),
        (
            "\uff10.\uff10.\uff10.\uff10",  # yarl normalizes it to 0.0.0.0 before the hop
            "address 0.0.0.0 is unspecified",
        ),
        ("nowhere.test", "nowhere.test resolves to 0.0.0.0: address 0.0.0.0 is unspecified"),
    ],
)
async def test_a_followed_redirect_is_checked_at_every_hop(
    origin: Origin, host: str, reason: str
) -> None:
    async with _session(follow_redirects=True) as http:
        async with http.get(origin.url("/redirect"), params={"to": origin.url("/ok")}) as ok:
            assert ok.status == 200
        to = origin.url("/ok", host)
        assert await _refusal(http, "GET", origin.url(f"/redirect?to={to}")) == reason
    assert origin.hits == {"/redirect": 2, "/ok": 1}


async def test_the_public_policy_refuses_loopback_by_name_and_by_address(origin: Origin) -> None:
    async with egress_session(PUBLIC) as http:
        assert await _refusal(http, "GET", origin.url("/ok")) == "address 127.0.0.1 is loopback"
        reason = await _refusal(http, "GET", origin.url("/ok", "localhost"))
        assert reason == "host localhost is loopback"
    assert origin.hits["/ok"] == 0
