"""A person approves destructive calls: a real `giru run` in front of a real MCP server whose
`echo` tool is tagged `destructive`, driven by the official Python SDK client in both eras
(the client answers the yes/no elicitation), and through the admin queue (`/api/v1/approvals`)
for a client that cannot elicit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.client.session import ElicitationFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from giru.cli.main import app
from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    RunningGiru,
    python_stdio_server,
    run_giru,
    virtual_server,
)

pytestmark = pytest.mark.integration

_DESTRUCTIVE = "  tools:\n    echo: {tags: [destructive]}\n"
_ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    manifests = "---".join(
        [
            python_stdio_server("py") + _DESTRUCTIVE,
            CLIENT,
            virtual_server("solo", ["py"], prefix=False),
        ]
    )
    env = {"GIRU_APPROVALS__ELICITATION_TIMEOUT_S": "3", "GIRU_APPROVALS__TIMEOUT_S": "8"}
    with run_giru(manifests, tmp_path_factory.mktemp("giru"), extra_env=env) as running:
        yield running


def _answering(action: str, allow: bool | None = None) -> ElicitationFnT:
    async def elicit(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        assert params.message.startswith("Allow echo with text=")
        assert params.message.endswith("? yes/no")
        content = {"allow": allow} if allow is not None else None
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return elicit


@asynccontextmanager
async def _client(
    giru: RunningGiru, mode: str, elicit: ElicitationFnT | None
) -> AsyncIterator[Client]:
    async with create_mcp_http_client(headers=giru.headers) as http:
        transport = streamable_http_client(giru.url("/mcp/solo"), http_client=http)
        async with Client(transport, mode=mode, elicitation_callback=elicit) as client:
            yield client


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])


@ERAS
async def test_a_yes_from_the_callers_client_runs_the_destructive_call(
    giru: RunningGiru, mode: str
) -> None:
    async with _client(giru, mode, _answering("accept", True)) as client:
        assert _text(await client.call_tool("echo", {"text": "wipe it"})) == "wipe it"


@ERAS
@pytest.mark.parametrize(
    ("action", "allow", "why"),
    [
        ("accept", False, "the user answered no"),
        ("decline", None, "the user declined"),
        ("cancel", None, "the user cancelled"),
    ],
    ids=["no", "declined", "cancelled"],
)
async def test_a_no_or_a_dismissed_form_refuses_the_call(
    giru: RunningGiru, mode: str, action: str, allow: bool | None, why: str
) -> None:
    async with _client(giru, mode, _answering(action, allow)) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "keep it"})
    assert refused.value.error.message.startswith("Not approved: echo was denied by e2e")
    assert why in refused.value.error.message
    data = refused.value.error.data
    assert isinstance(data, dict)
    assert data["reason"] == "approval_denied"
    assert data["via"] == "elicitation"


async def test_no_answer_from_a_legacy_client_refuses_the_call_after_the_timeout(
    giru: RunningGiru,
) -> None:
    never = asyncio.Event()

    async def silent(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        await never.wait()
        raise AssertionError("unreachable")

    async with _client(giru, "legacy", silent) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "left unanswered"})
    assert refused.value.error.message.startswith("Not approved: no decision on echo in time")
    assert refused.value.error.data["reason"] == "approval_expired"


async def test_no_answer_from_a_modern_client_refuses_the_parked_call_after_the_timeout(
    giru: RunningGiru,
) -> None:
    """The 2026-07-28 client got `input_required` and went quiet: the parked call is refused
    (and audited) at the timeout; a late retry hears the refusal, not a run."""
    async with httpx.AsyncClient(base_url=giru.url(""), headers=_ADMIN) as api:
        # Only this call's records: an earlier test's expiry may drain into the store late.
        started = datetime.now(UTC).isoformat()

        async def late(
            context: ClientRequestContext, params: types.ElicitRequestParams
        ) -> types.ElicitResult:
            async with asyncio.timeout(20):
                # the audit log is the only sign of the timeout: polled
                while not await _expired(api, since=started):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            return types.ElicitResult(action="accept", content={"allow": True})

        async with _client(giru, "2026-07-28", late) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("echo", {"text": "late answer"})
    assert refused.value.error.data["reason"] == "approval_expired"


async def _expired(api: httpx.AsyncClient, *, since: str) -> int:
    """How many echo calls recorded at or after `since` were refused for want of an answer to
    the elicitation."""
    found = await api.get("/api/v1/audit", params={"target": "echo", "limit": 500, "since": since})
    expired = 0
    for item in found.json()["items"]:
        approval = (item.get("details") or {}).get("approval") or {}
        expired += approval.get("status") == "expired" and approval.get("via") == "elicitation"
    return expired


async def _refusal(call: Awaitable[object]) -> MCPError:
    """The error a call ends with (inside a task group, where a raised one would end it)."""
    with pytest.raises(MCPError) as refused:
        await call
    return refused.value


async def _pending(api: httpx.AsyncClient, text: str) -> dict[str, Any]:
    async with asyncio.timeout(6):
        while True:
            items = (await api.get("/api/v1/approvals")).json()["items"]
            for item in items:
                if item["status"] == "pending" and text in item["summary"]:
                    return dict(item)
            await asyncio.sleep(0.05)


@ERAS
async def test_an_admin_approves_a_call_from_a_client_that_cannot_elicit(
    giru: RunningGiru, mode: str
) -> None:
    text = f"queued {mode}"
    async with (
        _client(giru, mode, None) as client,
        httpx.AsyncClient(base_url=giru.url(""), headers=_ADMIN) as api,
        asyncio.TaskGroup() as tasks,
    ):
        call = tasks.create_task(client.call_tool("echo", {"text": text}))
        ticket = await _pending(api, text)
        assert ticket["tool"] == "echo"
        assert ticket["actor"] == "e2e"
        assert ticket["controls"] == ["core.approval_tags"]
        decided = await api.post(f"/api/v1/approvals/{ticket['id']}/approve")
        assert decided.status_code == 200, decided.text
        assert decided.json()["decidedBy"] == "bootstrap"
        assert _text(await call) == text
        again = await api.post(f"/api/v1/approvals/{ticket['id']}/deny")
        assert again.status_code == 409
        decision = await _audited(
            api,
            lambda r: (
                r["action"] == "approvals/approve" and r["details"].get("approval") == ticket["id"]
            ),
        )
    assert decision["actor"] == "bootstrap"
    assert decision["details"]["caller"] == "e2e"


async def test_the_queued_summary_never_shows_a_card_number_in_clear(giru: RunningGiru) -> None:
    text = "refund 4111 1111 1111 1111"
    async with (
        _client(giru, "legacy", None) as client,
        httpx.AsyncClient(base_url=giru.url(""), headers=_ADMIN) as api,
        asyncio.TaskGroup() as tasks,
    ):
        call = tasks.create_task(client.call_tool("echo", {"text": text}))
        ticket = await _pending(api, "refund")
        assert "**** **** **** 1111" in ticket["summary"]
        assert "4111 1111" not in str((await api.get("/api/v1/approvals")).json())
        await api.post(f"/api/v1/approvals/{ticket['id']}/approve")
        assert _text(await call) == text


async def test_an_admin_denies_a_queued_call_with_a_reason_the_caller_reads(
    giru: RunningGiru,
) -> None:
    async with (
        _client(giru, "legacy", None) as client,
        httpx.AsyncClient(base_url=giru.url(""), headers=_ADMIN) as api,
        asyncio.TaskGroup() as tasks,
    ):
        call = tasks.create_task(_refusal(client.call_tool("echo", {"text": "queued deny"})))
        ticket = await _pending(api, "queued deny")
        body = {"reason": "not during the freeze"}
        decided = await api.post(f"/api/v1/approvals/{ticket['id']}/deny", json=body)
        assert decided.status_code == 200, decided.text
        refused = await call
    message = refused.error.message
    assert message.startswith("Not approved: echo was denied by bootstrap: not during the freeze")
    assert refused.error.data["approval"] == ticket["id"]


async def test_a_queued_call_nobody_decides_fails_at_the_timeout(giru: RunningGiru) -> None:
    async with (
        _client(giru, "legacy", None) as client,
        httpx.AsyncClient(base_url=giru.url(""), headers=_ADMIN) as api,
        asyncio.TaskGroup() as tasks,
    ):
        call = tasks.create_task(_refusal(client.call_tool("echo", {"text": "queued forever"})))
        ticket = await _pending(api, "queued forever")
        refused = await call
        late = await api.post(f"/api/v1/approvals/{ticket['id']}/approve")
    assert refused.error.data["reason"] == "approval_expired"
    assert late.status_code == 409


async def _audited(
    api: httpx.AsyncClient, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first echo audit record `wanted` matches, once drained (bounded)."""
    async with asyncio.timeout(15):
        while True:
            found = await api.get("/api/v1/audit", params={"target": "echo", "limit": 500})
            for item in found.json()["items"]:
                if wanted(item):
                    return dict(item)
            await asyncio.sleep(0.1)


async def test_the_audit_log_names_who_approved_a_call_and_how(giru: RunningGiru) -> None:
    async with _client(giru, "legacy", _answering("accept", True)) as client:
        await client.call_tool("echo", {"text": "audited"})
    approved = {"status": "approved", "by": "e2e", "via": "elicitation"}
    async with httpx.AsyncClient(base_url=giru.url(""), headers=_ADMIN) as api:
        record = await _audited(api, lambda r: r["details"].get("approval") == approved)
    assert record["outcome"] == "allowed"
    assert record["actor"] == "e2e"


async def test_an_untagged_tool_runs_without_asking(giru: RunningGiru) -> None:
    async with _client(giru, "legacy", None) as client:
        assert _text(await client.call_tool("slow", {"steps": 1})) == "done after 1"


async def test_giru_approvals_lists_and_approves_a_waiting_call(
    giru: RunningGiru, tmp_path: Path
) -> None:
    env = {
        "GIRU_API_URL": giru.url(""),
        "GIRU_TOKEN": ADMIN_TOKEN,
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    cli = CliRunner(env=env)
    async with (
        _client(giru, "legacy", None) as client,
        httpx.AsyncClient(base_url=giru.url(""), headers=_ADMIN) as api,
        asyncio.TaskGroup() as tasks,
    ):
        call = tasks.create_task(client.call_tool("echo", {"text": "through the cli"}))
        ticket = await _pending(api, "through the cli")
        listed = await asyncio.to_thread(cli.invoke, app, ["approvals", "-o", "json"])
        assert ticket["id"] in listed.output
        table = await asyncio.to_thread(cli.invoke, app, ["approvals"])
        assert "pending" in table.output
        approved = await asyncio.to_thread(cli.invoke, app, ["approvals", "approve", ticket["id"]])
        assert approved.exit_code == 0, approved.output
        assert approved.output.strip() == f"approval/{ticket['id']} approved"
        assert _text(await call) == "through the cli"
    again = await asyncio.to_thread(cli.invoke, app, ["approvals", "deny", ticket["id"]])
    assert again.exit_code != 0
