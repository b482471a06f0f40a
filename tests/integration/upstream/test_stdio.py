"""The stdio connector against real child processes (SDK server and a misbehaving one)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from giru.egress.lean import LeanClient
from giru.errors import UpstreamProtocolError, UpstreamTimeoutError, UpstreamUnavailableError
from giru.upstream import StdioSession, Timeouts, connect
from tests.integration.upstream.conftest import IDENTITY, Inbox, stdio_spec

pytestmark = pytest.mark.integration

SAMPLED = {"role": "assistant", "content": {"type": "text", "text": "from the model"}, "model": "m"}


def _reaped(pid: int | None) -> bool:
    """True when `pid` is neither running nor a zombie (/proc has no entry for it)."""
    return pid is not None and not Path(f"/proc/{pid}").exists()


def _text(response: dict[str, Any]) -> str:
    return str(response["result"]["content"][0]["text"])


async def _open(script: str, http: LeanClient, **kw: Any) -> StdioSession:
    session = await connect(stdio_spec(script, **kw), IDENTITY, on_unsolicited=Inbox(), http=http)
    assert isinstance(session, StdioSession)
    return session


async def test_handshake_list_and_call(http: LeanClient) -> None:
    session = await _open("everything.py", http)
    try:
        assert session.protocol_version == "2025-11-25"
        assert session.initialize_result["serverInfo"]["name"] == "everything-test"
        listed = await session.request("tools/list", None)
        assert "echo" in {tool["name"] for tool in listed["result"]["tools"]}
        called = await session.request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
        assert _text(called) == "hi"
        assert isinstance(called["id"], int)
    finally:
        await session.aclose()


async def test_progress_goes_to_on_message_with_the_callers_token(
    http: LeanClient,
) -> None:
    session = await _open("everything.py", http)
    inbox = Inbox()
    try:
        params = {"name": "slow", "arguments": {"steps": 3}, "_meta": {"progressToken": "tok-1"}}
        response = await session.request("tools/call", params, on_message=inbox)
        assert _text(response) == "done after 3"
        progress = [m for m in inbox.messages if m["method"] == "notifications/progress"]
        assert [m["params"]["progress"] for m in progress] == [1, 2, 3]
        assert {m["params"]["progressToken"] for m in progress} == {"tok-1"}
    finally:
        await session.aclose()


async def test_sampling_request_is_relayed_and_answered(http: LeanClient) -> None:
    session = await _open("everything.py", http)
    inbox = Inbox(replies={"sampling/createMessage": {"result": SAMPLED}})
    try:
        params = {"name": "sample", "arguments": {"prompt": "hello"}}
        response = await session.request("tools/call", params, on_message=inbox)
        assert _text(response) == "from the model"
        assert "sampling/createMessage" in inbox.methods()
    finally:
        await session.aclose()


async def test_sampling_finds_its_caller_while_gateway_requests_are_in_flight(
    http: LeanClient,
) -> None:
    # stdio carries no relation: a request of Giru's own (a list refresh, no client behind it)
    # in flight beside the caller's must not leave the server's sampling request unrouted
    session = await _open("everything.py", http)
    inbox = Inbox(replies={"sampling/createMessage": {"result": SAMPLED}})
    params = {"name": "sample", "arguments": {"prompt": "hello"}}
    try:
        async with asyncio.TaskGroup() as group:
            own = group.create_task(session.request("tools/call", {"name": "hang"}))
            await asyncio.sleep(0)  # one step: the gateway's own call is registered and sent
            response = await session.request("tools/call", params, on_message=inbox)
            assert not own.done()
            own.cancel()
        assert _text(response) == "from the model"
    finally:
        await session.aclose()


async def test_timeout_raises_and_upstream_sees_cancelled(http: LeanClient) -> None:
    session = await _open("everything.py", http)
    try:
        with pytest.raises(UpstreamTimeoutError):
            async with asyncio.timeout(5):
                await session.request("tools/call", {"name": "hang", "arguments": {}}, timeout=0.3)
        async with asyncio.timeout(5):
            while True:
                counted = await session.request(
                    "tools/call", {"name": "cancellations", "arguments": {}}
                )
                if _text(counted) == "1":
                    break
                await asyncio.sleep(0.05)
        assert "hang cancelled" in session.stderr.text()
    finally:
        await session.aclose()


async def test_cancelling_the_caller_cancels_upstream(http: LeanClient) -> None:
    session = await _open("everything.py", http)
    try:
        call = asyncio.ensure_future(  # noqa: TID251 -- awaited below
            session.request("tools/call", {"name": "hang", "arguments": {}})
        )
        await asyncio.sleep(0.3)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        async with asyncio.timeout(5):
            while True:
                if "hang cancelled" in session.stderr.text():
                    break
                await asyncio.sleep(0.05)
    finally:
        await session.aclose()


async def test_exit_mid_call_fails_it_and_next_call_restarts(http: LeanClient) -> None:
    session = await _open("misbehaving.py", http)
    try:
        first_pid = session.pid
        with pytest.raises(UpstreamUnavailableError):
            await session.request("tools/call", {"name": "exit", "arguments": {"code": 3}})
        again = await session.request("tools/call", {"name": "echo", "arguments": {"text": "ok"}})
        assert _text(again) == "ok"
        assert session.pid != first_pid
        assert _reaped(first_pid)
    finally:
        await session.aclose()


async def test_garbage_on_stdout_is_a_protocol_error_and_restarts(
    http: LeanClient,
) -> None:
    session = await _open("misbehaving.py", http)
    try:
        with pytest.raises(UpstreamProtocolError) as caught:
            await session.request("tools/call", {"name": "garbage", "arguments": {}})
        assert len(caught.value.data["sha256"]) == 64
        assert "not json" not in str(caught.value.data)
        again = await session.request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
        assert _text(again) == "x"
    finally:
        await session.aclose()


async def test_unknown_response_id_is_dropped(http: LeanClient) -> None:
    session = await _open("misbehaving.py", http)
    try:
        response = await session.request("tools/call", {"name": "wrong_id", "arguments": {}})
        assert _text(response) == "right"
    finally:
        await session.aclose()


async def test_stderr_flood_is_bounded_and_not_an_error(http: LeanClient) -> None:
    session = await _open("misbehaving.py", http)
    try:
        response = await session.request("tools/call", {"name": "flood", "arguments": {}})
        assert _text(response) == "flooded"
        assert len(session.stderr.text()) <= 64 * 1024
    finally:
        await session.aclose()


async def test_crash_loop_keeps_the_server_down(http: LeanClient) -> None:
    spec_timeouts = Timeouts(connect=20.0, call=10.0, call_max=30.0)
    session = await _open("misbehaving.py", http, timeouts=spec_timeouts)
    try:
        reasons = []
        for _ in range(7):
            with pytest.raises(UpstreamUnavailableError) as caught:
                await session.request("tools/call", {"name": "exit", "arguments": {}})
            reasons.append(caught.value.data["reason"])
        assert reasons[-1] == "crash_loop"
        assert reasons.count("crash_loop") <= 2
    finally:
        await session.aclose()


async def test_aclose_reaps_the_child_and_leaves_no_tasks(http: LeanClient) -> None:
    before = asyncio.all_tasks()
    session = await _open("everything.py", http)
    pid = session.pid
    await session.request("tools/list", None)
    await session.aclose()
    assert _reaped(pid)
    assert asyncio.all_tasks() - before == set()


async def test_missing_command_is_unavailable(http: LeanClient) -> None:
    spec = stdio_spec("everything.py")
    broken = type(spec)(name="x", transport="stdio", command="/nonexistent/giru-test")
    with pytest.raises(UpstreamUnavailableError):
        await connect(broken, IDENTITY, on_unsolicited=Inbox(), http=http)
