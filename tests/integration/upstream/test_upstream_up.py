"""`giru_upstream_up` against a real failing upstream: an HTTP server whose tool answers garbage
while its pings are fine. Repeated failures open the circuit breaker; a health ping that passes
afterwards must not report the upstream up while calls to it are refused."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from giru.egress import UPSTREAMS
from giru.egress.lean import LeanClient
from giru.mcp.jsonrpc import parse_message
from giru.proxy.context import CallContext
from giru.proxy.dispatch import Dispatcher
from giru.proxy.envelopes import Envelopes
from giru.proxy.health import HealthChecker
from giru.proxy.upstreams import UpstreamPool
from giru.telemetry.metrics import Metrics
from giru.upstream import ServerSpec, Timeouts
from tests.integration.upstream.conftest import SERVERS

pytestmark = pytest.mark.integration


@pytest.fixture
async def faulty_url(tmp_path: Path) -> AsyncIterator[str]:
    """faulty_http.py on a free loopback port: tools `echo` (works), `not_json` (garbage)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    fd = sock.fileno()
    script, ledger = str(SERVERS / "faulty_http.py"), str(tmp_path / "ledger.jsonl")
    process = await asyncio.create_subprocess_exec(
        sys.executable, script, str(fd), ledger, pass_fds=(fd,)
    )
    port = sock.getsockname()[1]
    sock.close()
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()
        await process.wait()


async def _no_list_changed(server: str, method: str) -> None:
    return None


async def _health_changed(server: str, health: str, error: str | None) -> None:
    return None


def _gauge(metrics: Metrics, name: str, server: str) -> float:
    text = metrics.render().decode()
    match = re.search(rf'^{name}\{{server="{server}"\}} (\S+)$', text, re.MULTILINE)
    assert match is not None, f"{name} for {server} is not exported"
    return float(match.group(1))


async def test_upstream_up_is_0_while_its_breaker_is_open_though_pings_pass(
    faulty_url: str,
) -> None:
    spec = ServerSpec(
        name="web",
        transport="streamable-http",
        url=faulty_url,
        timeouts=Timeouts(connect=10.0, call=5.0, call_max=10.0),
    )
    metrics = Metrics()
    async with LeanClient(UPSTREAMS) as http:
        pool = UpstreamPool(
            {"web": spec}, http=http, metrics=metrics, on_list_changed=_no_list_changed
        )
        dispatcher = Dispatcher(pool, metrics, page_size=100, envelopes=Envelopes(b"k" * 32))
        checker = HealthChecker(
            pool,
            dispatcher,
            metrics,
            _health_changed,
            timeout_s=5.0,
            unhealthy_after=3,
        )
        try:
            await checker.check("web")
            assert _gauge(metrics, "giru_upstream_up", "web") == 1.0
            ctx = CallContext(
                view=None,  # type: ignore[arg-type]  # forward() never reads it
                client="c",
                protocol_version="2025-11-25",
            )
            params = {"name": "not_json", "arguments": {}}
            answers = []
            for attempt in range(6):
                body = {"jsonrpc": "2.0", "id": attempt, "method": "tools/call", "params": params}
                message = parse_message(orjson.dumps(body))
                answers.append(await dispatcher.forward(ctx, message, "web", params))
            assert answers[-1]["error"]["data"].get("circuit") == "open", answers[-1]

            await checker.check("web")  # the server answers its ping: it is reachable
            assert checker.health("web") == "healthy"

            assert _gauge(metrics, "giru_upstream_circuit_open", "web") == 1.0
            assert _gauge(metrics, "giru_upstream_up", "web") == 0.0
            failed = (
                "mcp_client_operation_duration_seconds_count{error_type="
                '"upstream_protocol_error",giru_server="web",mcp_method_name="tools/call"} 5.0'
            )
            assert failed in metrics.render().decode()  # the refused sixth was never sent
        finally:
            await pool.aclose()
