"""A real `giru run` in front of real MCP servers, driven by the official Python SDK client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.client.session import IncomingMessage, ListRootsFnT
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ToolsListChanged
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.integration.gateway import (
    CLIENT,
    RunningGiru,
    python_stdio_server,
    run_giru,
    virtual_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    manifests = "---".join(
        [
            python_stdio_server("py"),
            python_stdio_server("py2", trust="auto"),  # grows tools at run time
            python_stdio_server("own", isolation="session"),
            CLIENT,
            virtual_server("solo", ["py"], prefix=False),
        ]
    )
    with run_giru(manifests, tmp_path_factory.mktemp("giru")) as running:
        yield running


async def _sample(
    context: ClientRequestContext, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(text="from the client model"), model="test"
    )


async def _elicit(
    context: ClientRequestContext, params: types.ElicitRequestParams
) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ada"})


@asynccontextmanager
async def connect(giru: RunningGiru, path: str, *, sse: bool = False) -> AsyncIterator[Client]:
    async with create_mcp_http_client(headers=giru.headers) as http:
        transport: Any = (
            sse_client(giru.url(path), headers=giru.headers)
            if sse
            else streamable_http_client(giru.url(path), http_client=http)
        )
        async with Client(
            transport, mode="legacy", sampling_callback=_sample, elicitation_callback=_elicit
        ) as client:
            yield client


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.parametrize("sse", [False, True], ids=["streamable-http", "sse-2024-11-05"])
async def test_aggregated_endpoint_lists_both_servers_and_calls_each(
    giru: RunningGiru, sse: bool
) -> None:
    async with connect(giru, "/sse" if sse else "/mcp", sse=sse) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {"py__echo", "py2__echo", "py__slow", "py2__sample"} <= tools
        assert _text(await client.call_tool("py__echo", {"text": "hi"})) == "hi"
        assert _text(await client.call_tool("py2__echo", {"text": "there"})) == "there"


async def test_progress_reaches_the_caller_in_order(giru: RunningGiru) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with connect(giru, "/mcp") as client:
        result = await client.call_tool("py__slow", {"steps": 3}, progress_callback=on_progress)
        assert _text(result) == "done after 3"
        assert seen == [1, 2, 3]


@pytest.mark.parametrize("sse", [False, True], ids=["streamable-http", "sse-2024-11-05"])
async def test_sampling_and_elicitation_round_trip_through_the_gateway(
    giru: RunningGiru, sse: bool
) -> None:
    async with connect(giru, "/mcp/solo/sse" if sse else "/mcp/solo", sse=sse) as client:
        assert _text(await client.call_tool("sample", {"prompt": "q"})) == "from the client model"
        assert _text(await client.call_tool("ask", {})) == "accept:Ada"


async def test_modern_client_answers_a_legacy_upstreams_sampling_via_input_required(
    giru: RunningGiru,
) -> None:
    """The stdio upstream speaks 2025-11-25 and asks mid-call; the 2026-07-28 client gets
    `input_required`, answers on retry, and the parked upstream call completes."""
    async with (
        create_mcp_http_client(headers=giru.headers) as http,
        Client(
            streamable_http_client(giru.url("/mcp/solo"), http_client=http),
            mode="2026-07-28",
            sampling_callback=_sample,
            elicitation_callback=_elicit,
        ) as client,
    ):
        assert client.protocol_version == "2026-07-28"
        assert _text(await client.call_tool("sample", {"prompt": "q"})) == "from the client model"
        assert _text(await client.call_tool("ask", {})) == "accept:Ada"
        assert _text(await client.call_tool("echo", {"text": "plain"})) == "plain"


def _roots_of(uri: str) -> ListRootsFnT:
    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root.model_validate({"uri": uri})])

    return roots


async def test_isolated_server_sees_each_clients_own_roots_and_sampling(giru: RunningGiru) -> None:
    """`isolation: session`: every client session has its own upstream process that mirrors
    its capabilities, so roots/list and sampling reach the right client even concurrently."""

    async def session_of(uri: str) -> tuple[str, str]:
        async with (
            create_mcp_http_client(headers=giru.headers) as http,
            Client(
                streamable_http_client(giru.url("/mcp"), http_client=http),
                mode="legacy",
                list_roots_callback=_roots_of(uri),
                sampling_callback=_sample,
            ) as client,
        ):
            roots = _text(await client.call_tool("own__roots", {}))
            sampled = _text(await client.call_tool("own__sample", {"prompt": uri}))
            return roots, sampled

    first, second = await asyncio.gather(
        session_of("file:///srv/alpha/"), session_of("file:///srv/beta/")
    )
    assert first == ("file:///srv/alpha/", "from the client model")
    assert second == ("file:///srv/beta/", "from the client model")


async def test_upstream_tool_list_change_reaches_legacy_clients_on_their_stream(
    giru: RunningGiru,
) -> None:
    changes: asyncio.Queue[None] = asyncio.Queue()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changes.put_nowait(None)

    async with (
        create_mcp_http_client(headers=giru.headers) as http,
        Client(
            streamable_http_client(giru.url("/mcp"), http_client=http),
            mode="legacy",
            message_handler=on_message,
        ) as client,
    ):
        assert "py2__legacy_added" not in {t.name for t in (await client.list_tools()).tools}
        assert _text(await client.call_tool("py2__grow", {"name": "legacy_added"})) == "grown"

        async def listed_after_a_notification() -> None:
            # Another change (another server's refresh, a reload) may be announced first: each
            # notification means "list again", and one of them must bring the new tool.
            while True:
                await changes.get()
                if "py2__legacy_added" in {t.name for t in (await client.list_tools()).tools}:
                    return

        await asyncio.wait_for(listed_after_a_notification(), 10)


async def test_upstream_tool_list_change_reaches_modern_listen_streams(giru: RunningGiru) -> None:
    async with (
        create_mcp_http_client(headers=giru.headers) as http,
        Client(
            streamable_http_client(giru.url("/mcp"), http_client=http),
            mode="2026-07-28",
            cache=None,
        ) as client,
        client.listen(tools_list_changed=True) as subscription,
    ):
        assert _text(await client.call_tool("py2__grow", {"name": "modern_added"})) == "grown"

        async def listed_after_an_event() -> None:
            # Another change (an earlier test's, a reload) may be announced first: each event
            # means "list again", and one of them must bring the new tool.
            async for event in subscription:
                assert isinstance(event, ToolsListChanged)
                if "py2__modern_added" in {t.name for t in (await client.list_tools()).tools}:
                    return

        await asyncio.wait_for(listed_after_an_event(), 10)


async def test_unknown_tool_is_an_error_and_the_session_goes_on(giru: RunningGiru) -> None:
    async with connect(giru, "/mcp/solo") as client:
        with pytest.raises(MCPError, match="Unknown tool: nope") as caught:
            await client.call_tool("nope", {})
        assert caught.value.error.code == -32602
        assert _text(await client.call_tool("echo", {"text": "still here"})) == "still here"


def test_log_has_one_line_per_request_without_the_key(giru: RunningGiru) -> None:
    text = Path(giru.log).read_text()
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(e["event"] == "mcp_request" and e["client"] == "e2e" for e in events)
    assert giru.headers["Authorization"].split()[1] not in text
