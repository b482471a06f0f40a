"""The Streamable HTTP and legacy SSE connectors against SDK servers started as processes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from giru.egress.lean import LeanClient
from giru.errors import UpstreamTimeoutError
from giru.upstream import (
    EraCache,
    LegacySseSession,
    ServerSpec,
    StreamableHttpSession,
    Timeouts,
    UpstreamSession,
    connect,
)
from tests.integration.upstream.conftest import IDENTITY, HttpServer, Inbox

pytestmark = pytest.mark.integration

SAMPLED = {"role": "assistant", "content": {"type": "text", "text": "from the model"}, "model": "m"}
TIMEOUTS = Timeouts(connect=20.0, call=10.0, call_max=30.0)


def _text(response: dict[str, Any]) -> str:
    return str(response["result"]["content"][0]["text"])


async def _open(
    server: HttpServer,
    http: LeanClient,
    transport: str,
    *,
    version: str = "2025-11-25",
    eras: EraCache | None = None,
) -> UpstreamSession:
    spec = ServerSpec(name="h", transport=transport, url=server.url, timeouts=TIMEOUTS)  # type: ignore[arg-type]
    identity = replace(IDENTITY, protocol_version=version)
    return await connect(spec, identity, on_unsolicited=Inbox(), http=http, eras=eras)


async def _exercise(session: UpstreamSession) -> None:
    listed = await session.request("tools/list", None)
    assert "echo" in {tool["name"] for tool in listed["result"]["tools"]}
    called = await session.request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    assert _text(called) == "hi"
    inbox = Inbox()
    params = {"name": "slow", "arguments": {"steps": 2}, "_meta": {"progressToken": 7}}
    slow = await session.request("tools/call", params, on_message=inbox)
    assert _text(slow) == "done after 2"
    tokens = [m["params"]["progressToken"] for m in inbox.messages]
    assert tokens == [7, 7]


async def test_streamable_http_legacy_session(http_server: HttpServer, http: LeanClient) -> None:
    session = await _open(http_server, http, "streamable-http")
    try:
        assert isinstance(session, StreamableHttpSession)
        assert session.era == "legacy"
        assert session.protocol_version == "2025-11-25"
        await _exercise(session)
    finally:
        await session.aclose()


async def test_streamable_http_relays_sampling_and_elicitation(
    http_server: HttpServer, http: LeanClient
) -> None:
    session = await _open(http_server, http, "streamable-http")
    inbox = Inbox(
        replies={
            "sampling/createMessage": {"result": SAMPLED},
            "elicitation/create": {"result": {"action": "accept", "content": {"name": "Ada"}}},
        }
    )
    try:
        sampled = await session.request(
            "tools/call", {"name": "sample", "arguments": {"prompt": "p"}}, on_message=inbox
        )
        assert _text(sampled) == "from the model"
        asked = await session.request(
            "tools/call", {"name": "ask", "arguments": {}}, on_message=inbox
        )
        assert _text(asked) == "accept:Ada"
        assert inbox.methods() == ["sampling/createMessage", "elicitation/create"]
    finally:
        await session.aclose()


async def test_streamable_http_timeout_sends_cancelled(
    http_server: HttpServer, http: LeanClient
) -> None:
    session = await _open(http_server, http, "streamable-http")
    try:
        with pytest.raises(UpstreamTimeoutError):
            async with asyncio.timeout(5):
                await session.request("tools/call", {"name": "hang", "arguments": {}}, timeout=0.3)
        async with asyncio.timeout(20):  # a bound on waiting for the server, not a timing check
            while True:
                counted = await session.request(
                    "tools/call", {"name": "cancellations", "arguments": {}}
                )
                if _text(counted) == "1":
                    break
                await asyncio.sleep(0.05)
    finally:
        await session.aclose()


async def test_streamable_http_resumes_a_closed_stream(
    http_server: HttpServer, http: LeanClient
) -> None:
    session = await _open(http_server, http, "streamable-http")
    try:
        response = await session.request("tools/call", {"name": "close_stream", "arguments": {}})
        assert _text(response) == "answered after reconnect"
    finally:
        await session.aclose()


async def test_streamable_http_modern_era_is_detected_and_cached(
    http_server: HttpServer, http: LeanClient
) -> None:
    eras = EraCache()
    session = await _open(http_server, http, "streamable-http", version="2026-07-28", eras=eras)
    try:
        assert isinstance(session, StreamableHttpSession)
        assert session.era == "modern"
        assert session.protocol_version == "2026-07-28"
        assert "supportedVersions" in session.initialize_result
        assert eras.get("h") == "modern"
        await _exercise(session)
    finally:
        await session.aclose()


async def test_streamable_http_modern_timeout_closes_the_stream(
    http_server: HttpServer, http: LeanClient
) -> None:
    session = await _open(http_server, http, "streamable-http", version="2026-07-28")
    try:
        with pytest.raises(UpstreamTimeoutError):
            await session.request("tools/call", {"name": "hang", "arguments": {}}, timeout=0.3)
        async with asyncio.timeout(20):  # a bound on waiting for the server, not a timing check
            while True:
                counted = await session.request(
                    "tools/call", {"name": "cancellations", "arguments": {}}
                )
                if _text(counted) == "1":
                    break
                await asyncio.sleep(0.05)
    finally:
        await session.aclose()


async def test_legacy_sse_session(sse_server: HttpServer, http: LeanClient) -> None:
    session = await _open(sse_server, http, "sse")
    inbox = Inbox(replies={"sampling/createMessage": {"result": SAMPLED}})
    try:
        assert isinstance(session, LegacySseSession)
        assert session.protocol_version == "2025-11-25"
        await _exercise(session)
        sampled = await session.request(
            "tools/call", {"name": "sample", "arguments": {"prompt": "p"}}, on_message=inbox
        )
        assert _text(sampled) == "from the model"
        with pytest.raises(UpstreamTimeoutError):
            await session.request("tools/call", {"name": "hang", "arguments": {}}, timeout=0.3)
    finally:
        await session.aclose()
