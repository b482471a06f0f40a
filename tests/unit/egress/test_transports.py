"""httpx clients over `egress_transport`: every connection, hence every redirect hop, is checked."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest

from giru.egress import PUBLIC, UPSTREAMS, egress_refusal, egress_transport
from tests.unit.egress.conftest import Origin

DNS = {
    "good.test": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["127.0.0.1", "0.0.0.0"],
}


async def _resolve(host: str, port: int) -> Sequence[str]:
    return DNS.get(host, [host])


def _client(*, follow_redirects: bool = False) -> httpx.AsyncClient:
    transport = egress_transport(UPSTREAMS, resolve=_resolve)
    return httpx.AsyncClient(transport=transport, follow_redirects=follow_redirects)


async def _refusal(client: httpx.AsyncClient, url: str) -> str:
    with pytest.raises(httpx.ConnectError) as caught:
        await client.post(url, content=b"{}")
    refused = egress_refusal(caught.value)
    assert refused is not None, caught.value
    return refused.reason


async def test_an_allowed_name_and_an_allowed_literal_connect(origin: Origin) -> None:
    async with _client() as client:
        for host in ("good.test", "127.0.0.1"):
            assert (await client.get(origin.url("/ok", host))).status_code == 200
    assert origin.hits["/ok"] == 2


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        (
            "metadata.test",
            "metadata.test resolves to 169.254.169.254: address 169.254.169.254 is link-local"
            " (cloud metadata lives there)",
        ),
        ("mixed.test", "mixed.test resolves to 0.0.0.0: address 0.0.0.0 is unspecified"),
        ("0.0.0.0", "address 0.0.0.0 is unspecified"),
        ("metadata.google.internal", "host metadata.google.internal is a cloud metadata endpoint"),
    ],
)
async def test_a_refused_destination_is_refused_before_connecting(
    origin: Origin, host: str, reason: str
) -> None:
    async with _client() as client:
        assert await _refusal(client, origin.url("/ok", host)) == reason
    assert origin.hits["/ok"] == 0


async def test_redirects_are_returned_not_followed_by_default(origin: Origin) -> None:
    target = origin.url("/ok", "0.0.0.0")
    async with _client() as client:
        response = await client.post(origin.url("/redirect"), params={"to": target})
    assert (response.status_code, response.headers["location"]) == (307, target)
    assert origin.hits == {"/redirect": 1}


async def test_a_followed_redirect_is_checked_at_every_hop(origin: Origin) -> None:
    async with _client(follow_redirects=True) as client:
        ok = await client.get(
            origin.url("/redirect"), params={"to": origin.url("/ok", "good.test")}
        )
        assert ok.status_code == 200
        to = origin.url("/ok", "metadata.test")
        reason = await _refusal(client, origin.url(f"/redirect?to={to}"))
    assert reason.startswith("metadata.test resolves to 169.254.169.254")
    assert origin.hits == {"/redirect": 2, "/ok": 1}


async def test_the_public_policy_refuses_loopback(origin: Origin) -> None:
    async with httpx.AsyncClient(transport=egress_transport(PUBLIC)) as client:
        assert await _refusal(client, origin.url("/ok")) == "address 127.0.0.1 is loopback"
        assert (
            await _refusal(client, origin.url("/ok", "localhost")) == "host localhost is loopback"
        )
    assert origin.hits["/ok"] == 0
