"""The HTTP connectors' error mapping and the legacy SSE `endpoint` origin check."""

from __future__ import annotations

import aiohttp
import pytest

from giru.egress import EgressRefusedError, RedirectRefusedError
from giru.errors import UpstreamProtocolError, UpstreamUnavailableError
from giru.upstream._http_io import exchange_error, resolve_endpoint

BASE = "http://127.0.0.1:3002/sse"


@pytest.mark.parametrize(
    ("reference", "resolved"),
    [
        ("/messages?sessionId=1", "http://127.0.0.1:3002/messages?sessionId=1"),
        ("http://127.0.0.1:3002/m", "http://127.0.0.1:3002/m"),
        (" messages ", "http://127.0.0.1:3002/messages"),
    ],
)
def test_an_endpoint_on_the_streams_origin_is_used(reference: str, resolved: str) -> None:
    assert resolve_endpoint("s", BASE, reference) == resolved


def test_the_default_port_is_the_same_origin() -> None:
    assert resolve_endpoint("s", "http://example.com/sse", "http://example.com:80/m")


@pytest.mark.parametrize(
    "reference",
    [
        "http://169.254.169.254/latest/meta-data",
        "//0.0.0.0:3002/m",
        "http://127.0.0.1:3003/m",
        "https://127.0.0.1:3002/m",
        "http://\uff11\uff12\uff17.0.0.1:3002/m",  # fullwidth digits: a numeric host in disguise
        "http://user@127.0.0.1:3002/m",
        "http://127.0.0.1:3002@169.254.169.254/m",
    ],
)
def test_an_endpoint_on_another_origin_is_a_protocol_error(reference: str) -> None:
    with pytest.raises(UpstreamProtocolError):
        resolve_endpoint("s", BASE, reference)


def test_a_refused_redirect_is_a_protocol_error_naming_the_status() -> None:
    error = exchange_error("s", RedirectRefusedError(BASE, 307, "http://0.0.0.0/"), "failed")
    assert isinstance(error, UpstreamProtocolError)
    assert "upstream answered HTTP 307 (a redirect)" in error.message
    assert error.data == {
        "location": "http://0.0.0.0/",
        "reason": "upstream_redirect",
        "status": 307,
    }


def test_a_refused_connection_says_the_egress_guard_refused_it() -> None:
    refused = EgressRefusedError("0.0.0.0:80", "address 0.0.0.0 is unspecified")
    wrapped = aiohttp.ClientConnectionError("cannot connect")
    wrapped.__cause__ = refused
    error = exchange_error("s", wrapped, "failed")
    assert isinstance(error, UpstreamUnavailableError)
    assert error.message == (
        "connection to upstream refused by the egress guard: address 0.0.0.0 is unspecified"
    )
    assert error.data == {"reason": "egress_refused"}


def test_any_other_failure_keeps_its_message() -> None:
    error = exchange_error("s", aiohttp.ServerDisconnectedError(), "could not reach upstream")
    assert isinstance(error, UpstreamUnavailableError)
    assert error.message == "could not reach upstream"
    assert error.data == {"reason": "upstream_unavailable", "error": "ServerDisconnectedError"}
