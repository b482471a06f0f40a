"""Destructive-call approvals across workers, end to end: two real `giru run` workers sharing
PostgreSQL and Redis (the production topology without the edge). A client that cannot elicit
calls a tool tagged `destructive` on the first worker, where the call parks; an administrator
decides it through the second worker (`giru approvals approve ID`, the API's deny), and the
parked call runs or fails. The audit records name the administrator, and which worker held the
call and which one took the decision. When the worker holding a call is killed, the queue shows
the ticket expired within a lease, not pending until its timeout; restarted, the worker holds
and runs calls again."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from giru.approvals.remote import ABANDONED
from giru.cli.main import app
from tests.e2e.calls import tool_call
from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    KEY,
    RunningGiru,
    python_stdio_server,
    run_giru,
    virtual_server,
)
from tests.services import PostgresServer, RedisServer

# two workers, each with its OPA, over PostgreSQL and Redis, on a loaded machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

_ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
_MANIFESTS = "---".join(
    [
        python_stdio_server("py") + "  tools:\n    echo: {tags: [destructive]}\n",
        CLIENT,
        virtual_server("solo", ["py"], prefix=False),
    ]
)
_LEASE_S = 2


@dataclass
class Workers:
    holder: RunningGiru
    decider: RunningGiru
    holder_dir: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def workers(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workers]:
    postgres_server.ensure_running()
    database = postgres_server.create_database()
    redis_server.start()
    redis_server.flush()
    shared = {
        "GIRU_DATABASE_URL": postgres_server.url(database),
        "GIRU_REDIS_URL": redis_server.url(),
        "GIRU_KEY_PEPPER": "approval-workers-pepper-0123456789",
        "GIRU_APPROVALS__TIMEOUT_S": "60",
        "GIRU_APPROVALS__HOLDER_LEASE_S": str(_LEASE_S),
        # a decision OPA makes late on a loaded machine is a refusal, not a parked call
        "GIRU_POLICY__TIMEOUT_MS": "10000",
    }
    root = tmp_path_factory.mktemp("approval-workers")
    try:
        with ExitStack() as stack:
            running = []
            for name in ("w1", "w2"):
                workdir = root / name
                workdir.mkdir()
                manifests = _MANIFESTS if name == "w1" else None  # w2 reads the store
                env = {**shared, "GIRU_WORKER_NAME": name}
                start = run_giru(manifests, workdir, extra_env=env, ready_timeout=180)
                running.append(stack.enter_context(start))
            yield Workers(running[0], running[1], root / "w1", {**shared, "GIRU_WORKER_NAME": "w1"})
    finally:
        postgres_server.ensure_running()
        postgres_server.drop_database(database)


@asynccontextmanager
async def _client(giru: RunningGiru) -> AsyncIterator[Client]:
    """The SDK client in the legacy era with no elicitation capability: the admin queue."""
    async with create_mcp_http_client(headers=giru.headers) as http:
        transport = streamable_http_client(giru.url("/mcp/solo"), http_client=http)
        async with Client(transport, mode="legacy") as client:
            yield client


async def _pending(api: httpx.AsyncClient, text: str) -> dict[str, Any]:
    """The pending ticket whose summary holds `text`, as the deciding worker lists it."""
    async with asyncio.timeout(30):
        while True:
            for item in (await api.get("/api/v1/approvals")).json()["items"]:
                if item["status"] == "pending" and text in item["summary"]:
                    return dict(item)
            await asyncio.sleep(0.05)  # polled: the call reaches the queue when it does


async def _refusal(call: Awaitable[object]) -> MCPError:
    """The error a call ends with (inside a task group, where a raised one would end it)."""
    with pytest.raises(MCPError) as refused:
        await call
    return refused.value


async def _audited(
    api: httpx.AsyncClient, wanted: Callable[[dict[str, Any]], bool], count: int
) -> list[dict[str, Any]]:
    """`count` audit records `wanted` selects, once drained into the store (bounded)."""
    async with asyncio.timeout(30):
        while True:
            found = await api.get("/api/v1/audit", params={"target": "echo", "limit": 500})
            items = [dict(item) for item in found.json()["items"] if wanted(item)]
            if len(items) >= count:
                return items
            await asyncio.sleep(0.1)  # the audit spools drain on their own schedule


def _about(ticket: str) -> Callable[[dict[str, Any]], bool]:
    """An audit record about `ticket`: the decision's own record, or the call's."""

    def wanted(record: dict[str, Any]) -> bool:
        approval = record["details"].get("approval")
        held = isinstance(approval, dict) and approval.get("ticket") == ticket
        return approval == ticket or held

    return wanted


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def _cli(decider: RunningGiru, tmp_path: Path) -> CliRunner:
    env = {
        "GIRU_API_URL": decider.url(""),
        "GIRU_TOKEN": ADMIN_TOKEN,
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    return CliRunner(env=env)


async def test_a_call_parked_on_one_worker_runs_once_approved_through_another(
    workers: Workers, tmp_path: Path
) -> None:
    holder, decider = workers.holder, workers.decider
    text = "drop table orders"
    async with (
        _client(holder) as client,
        httpx.AsyncClient(base_url=decider.url(""), headers=_ADMIN) as api,
        asyncio.TaskGroup() as tasks,
    ):
        call = tasks.create_task(client.call_tool("echo", {"text": text}))
        ticket = await _pending(api, text)
        assert (ticket["tool"], ticket["actor"]) == ("echo", "e2e")
        approve = ["approvals", "approve", ticket["id"]]
        approved = await asyncio.to_thread(_cli(decider, tmp_path).invoke, app, approve)
        assert approved.exit_code == 0, approved.output
        assert approved.output.strip() == f"approval/{ticket['id']} approved"
        assert _text(await call) == text
        records = await _audited(api, _about(ticket["id"]), 2)
    decision = next(r for r in records if r["action"] == "approvals/approve")
    ran = next(r for r in records if r["action"] == "tools/call")
    assert decision["actor"] == "bootstrap"
    assert decision["details"]["caller"] == "e2e"
    assert ran["outcome"] == "allowed"
    assert ran["details"]["approval"] == {
        "status": "approved",
        "by": "bootstrap",
        "via": "queue",
        "ticket": ticket["id"],
    }
    # the call was held by the first worker and decided by the second, another process
    assert ran["node"] == ticket["node"]
    assert decision["node"] != ticket["node"]
    assert holder.process.pid != decider.process.pid


async def test_a_denial_through_another_worker_fails_the_parked_call_with_its_reason(
    workers: Workers,
) -> None:
    holder, decider = workers.holder, workers.decider
    async with (
        _client(holder) as client,
        httpx.AsyncClient(base_url=decider.url(""), headers=_ADMIN) as api,
    ):
        async with asyncio.TaskGroup() as tasks:
            call = tasks.create_task(_refusal(client.call_tool("echo", {"text": "rm -rf /srv"})))
            ticket = await _pending(api, "rm -rf")
            body = {"reason": "not during the freeze"}
            denied = await api.post(f"/api/v1/approvals/{ticket['id']}/deny", json=body)
            assert denied.status_code == 200, denied.text
            refused = await call
        records = await _audited(api, _about(ticket["id"]), 2)
        again = await api.post(f"/api/v1/approvals/{ticket['id']}/approve")
    assert again.status_code == 409
    error = refused.error
    assert error.message.startswith(
        "Not approved: echo was denied by bootstrap: not during the freeze"
    )
    assert isinstance(error.data, dict)
    assert (error.data["reason"], error.data["approval"]) == ("approval_denied", ticket["id"])
    decision = next(r for r in records if r["action"] == "approvals/deny")
    refused_call = next(r for r in records if r["action"] == "tools/call")
    assert decision["actor"] == "bootstrap"
    assert decision["reasons"] == ["not during the freeze"]
    assert refused_call["outcome"] == "policy_denied"
    assert refused_call["details"]["approval"]["by"] == "bootstrap"
    assert decision["node"] != refused_call["node"] == ticket["node"]


async def _cut_off(giru: RunningGiru, text: str) -> httpx.HTTPError:
    """A 2026-07-28 call that cannot elicit, as raw HTTP: it parks until decided; the error
    it ends with when its worker dies under it."""
    body, headers = tool_call(KEY, "echo", {"text": text}, 1)
    async with httpx.AsyncClient(timeout=90) as http:
        with pytest.raises(httpx.HTTPError) as cut:
            await http.post(giru.url("/mcp/solo"), content=body, headers=headers)
    return cut.value


async def test_a_ticket_whose_worker_was_killed_expires_and_the_restarted_worker_holds_calls(
    workers: Workers, tmp_path: Path
) -> None:
    holder, decider = workers.holder, workers.decider
    async with httpx.AsyncClient(base_url=decider.url(""), headers=_ADMIN) as api:
        async with asyncio.TaskGroup() as tasks:
            parked = tasks.create_task(_cut_off(holder, "truncate audit"))
            ticket = await _pending(api, "truncate audit")
            os.killpg(holder.process.pid, signal.SIGKILL)
            assert isinstance(await parked, httpx.RemoteProtocolError)
        async with asyncio.timeout(10 * _LEASE_S):  # a lease, not the 60-second timeout
            # polled: the lease lapses on Redis's clock, nothing here can signal it
            while (listed := await _ticket(api, ticket["id"]))["status"] == "pending":  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        assert listed["reason"] == ABANDONED
        assert listed["decidedBy"] == "giru"
        late = await api.post(f"/api/v1/approvals/{ticket['id']}/approve")
        assert late.status_code == 409
        assert ABANDONED in late.json()["detail"]

        with ExitStack() as stack:
            start = run_giru(
                _MANIFESTS, workers.holder_dir, extra_env=workers.env, ready_timeout=180
            )
            restarted = await asyncio.to_thread(stack.enter_context, start)
            try:
                async with _client(restarted) as client, asyncio.TaskGroup() as tasks:
                    call = tasks.create_task(client.call_tool("echo", {"text": "after restart"}))
                    again = await _pending(api, "after restart")
                    assert again["node"] == ticket["node"]  # the same worker, restarted
                    decided = await api.post(f"/api/v1/approvals/{again['id']}/approve")
                    assert decided.status_code == 200, decided.text
                    assert _text(await call) == "after restart"
            finally:
                await asyncio.to_thread(stack.close)


async def _ticket(api: httpx.AsyncClient, ticket_id: str) -> dict[str, Any]:
    items = (await api.get("/api/v1/approvals")).json()["items"]
    return next(dict(item) for item in items if item["id"] == ticket_id)
