"""A small MCP server (Python SDK) for connector tests: `python everything.py stdio|http FD|sse FD`.

Tools: echo, slow (reports progress), sample (sampling/createMessage), ask (elicitation),
hang (never answers; counts cancellations), cancellations (that count), close_stream; plus one
tool per line of the file `EVERYTHING_TOOLS_FILE` names, read at start-up (a restarted server
whose tools changed).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import mcp_types as types
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp_types import JSONRPCMessage
from pydantic import BaseModel

server = MCPServer("everything-test", version="1.0.0")
_state = {"cancelled": 0}


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool()
async def slow(steps: int, ctx: Context) -> str:
    """Report progress `steps` times, then answer."""
    for step in range(steps):
        await ctx.report_progress(step + 1, steps, f"step {step + 1}")
        await anyio.sleep(0.05)
    return f"done after {steps}"


@server.tool()
async def sample(prompt: str, ctx: Context) -> str:
    """Ask the client's model (sampling/createMessage) and return its text."""
    message = types.SamplingMessage(role="user", content=types.TextContent(text=prompt))
    result = await ctx.session.create_message([message], max_tokens=16)
    content = result.content
    return content.text if isinstance(content, types.TextContent) else "?"


class _Answer(BaseModel):
    name: str


@server.tool()
async def ask(ctx: Context) -> str:
    """Elicit a name from the user."""
    result = await ctx.elicit("your name?", _Answer)
    return f"{result.action}:{getattr(getattr(result, 'data', None), 'name', '')}"


@server.tool()
async def roots(ctx: Context) -> str:
    """The client's roots (roots/list), comma-separated."""
    result = await ctx.session.list_roots()
    return ",".join(str(root.uri) for root in result.roots)


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called `name` at run time and announce notifications/tools/list_changed."""

    def added() -> str:
        return name

    server.add_tool(added, name=name, description="added at run time")
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool()
async def hang() -> str:
    """Never answers; a cancellation is counted and reported on stderr."""
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        _state["cancelled"] += 1
        print("hang cancelled", file=sys.stderr, flush=True)
        raise
    return "unreachable"


@server.tool()
def cancellations() -> int:
    """How many `hang` calls were cancelled."""
    return _state["cancelled"]


@server.tool()
async def close_stream(ctx: Context) -> str:
    """Close the response SSE stream mid-call (2025-11-25 polling), then answer."""
    await ctx.report_progress(1, 2, "before close")
    await ctx.close_sse_stream()
    await anyio.sleep(0.3)
    return "answered after reconnect"


def _add_listed_tools() -> None:
    listing = os.environ.get("EVERYTHING_TOOLS_FILE")
    if listing is None or not Path(listing).exists():
        return
    for name in Path(listing).read_text().split():
        server.add_tool(_answering(name), name=name, description="listed at start-up")


def _answering(name: str) -> Callable[[], str]:
    def answer() -> str:
        return name

    return answer


def _serve(app_kind: str, fd: int) -> None:
    sock = socket.socket(fileno=fd)
    if app_kind == "http":
        app = server.streamable_http_app(event_store=_MemoryEventStore(), retry_interval=100)
    else:
        app = server.sse_app()
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


class _MemoryEventStore(EventStore):
    """Keeps every event so a client can resume a stream with Last-Event-ID."""

    def __init__(self) -> None:
        self._events: list[tuple[str, str, JSONRPCMessage | None]] = []

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        event_id = str(len(self._events) + 1)
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(
        self, last_event_id: str, send_callback: EventCallback
    ) -> str | None:
        found = [e for e in self._events if e[0] == last_event_id]
        if not found:
            return None
        stream_id = found[0][1]
        for event_id, stream, message in self._events[int(last_event_id) :]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


if __name__ == "__main__":
    _add_listed_tools()
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        _serve(sys.argv[1], int(sys.argv[2]))
