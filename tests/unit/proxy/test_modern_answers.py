"""How a 2026-07-28 call's run reaches its client: streamed, parked for input, or cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import orjson

from giru.catalog.views import build_view
from giru.mcp import sse
from giru.mcp.jsonrpc import Message, parse_message
from giru.mcp.versions import RequestEnvelope
from giru.proxy.context import CallContext
from giru.proxy.http import Request
from giru.proxy.listen import ListenHub
from giru.proxy.modern import ModernHttp

_CALL = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}}'
_RESULT = {"content": [{"type": "text", "text": "done"}]}


class _Dispatcher:
    """Emits `emitted` through the call's relay, then answers (or waits until cancelled)."""

    def __init__(self, *emitted: dict[str, Any], answers: bool = True) -> None:
        self.emitted = emitted
        self.answers = answers
        self.cancelled = asyncio.Event()
        self.heard = asyncio.Event()
        """Set once the client is sent a body part: streamed while the call still runs."""

    async def dispatch(self, ctx: CallContext, message: Message) -> dict[str, Any]:
        assert ctx.relay is not None
        for sent in self.emitted:
            await ctx.relay(sent)
        if self.emitted and "id" not in self.emitted[-1]:
            await self.heard.wait()
        if not self.answers:
            try:
                await asyncio.Event().wait()
            finally:
                self.cancelled.set()
        return {"jsonrpc": "2.0", "id": "upstream", "result": _RESULT}


async def _call(
    dispatcher: _Dispatcher, *, gone: bool = False, capabilities: dict[str, Any] | None = None
) -> list[MutableMapping[str, Any]]:
    """What the client is sent for one tools/call (`gone`: it disconnects once it has posted)."""
    sent: list[MutableMapping[str, Any]] = []
    still_there = asyncio.Event()

    async def receive() -> MutableMapping[str, Any]:
        if not gone:
            await still_there.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            dispatcher.heard.set()

    modern = ModernHttp(dispatcher, ListenHub())  # type: ignore[arg-type]
    view = build_view([], prefix=True, allow_tool=lambda server, tool: True)
    ctx = CallContext(view=view, client="alice", protocol_version="2026-07-28", era="modern")
    envelope = RequestEnvelope("2026-07-28", capabilities or {})
    request = Request({"type": "http", "method": "POST", "path": "/mcp", "headers": []}, receive)
    async with asyncio.timeout(5):
        await modern._call(request, send, ctx, parse_message(_CALL), envelope)
    modern.close()
    return sent


def _events(sent: list[MutableMapping[str, Any]]) -> list[Any]:
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return [orjson.loads(e.data) for e in sse.SseDecoder().feed(body)]


async def test_a_call_without_messages_is_answered_as_json_under_the_clients_id() -> None:
    sent = await _call(_Dispatcher())
    assert sent[0]["status"] == 200
    assert orjson.loads(sent[1]["body"]) == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": {"resultType": "complete", **_RESULT},
    }


async def test_upstream_notifications_reach_the_client_while_the_call_runs() -> None:
    progress = [
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": n}}
        for n in (1, 2)
    ]
    sent = await _call(_Dispatcher(*progress))
    assert sent[0]["headers"][0] == (b"content-type", b"text/event-stream")
    events = _events(sent)
    assert events[:2] == progress
    assert events[2]["id"] == 7
    assert events[2]["result"]["resultType"] == "complete"


async def test_a_question_parks_the_call_and_asks_the_client_for_input() -> None:
    question = {"jsonrpc": "2.0", "id": 1, "method": "elicitation/create", "params": {"m": 1}}
    dispatcher = _Dispatcher(question)
    sent = await _call(dispatcher, capabilities={"elicitation": {}})
    result = orjson.loads(sent[1]["body"])["result"]
    assert result["resultType"] == "input_required"
    assert list(result["inputRequests"].values()) == [
        {"method": "elicitation/create", "params": {"m": 1}}
    ]
    assert result["requestState"].startswith("giru1.")


async def test_a_client_that_goes_away_cancels_its_call_and_hears_nothing() -> None:
    dispatcher = _Dispatcher(answers=False)
    sent = await _call(dispatcher, gone=True)
    await asyncio.wait_for(dispatcher.cancelled.wait(), 5)
    assert sent == []
