"""`discovery: search` through a real `giru run` (managed OPA, the shipped packs), driven by the
official Python SDK client in both eras: tools/list shows `search_tools` and the always-listed
tool, a search finds the rest, a found tool is called by its name and governed like any other,
and a tool policy hides from a caller is never found by it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.integration.gateway import RunningGiru, python_stdio_server, run_giru

pytestmark = pytest.mark.integration

NURSE = "giru_search-e2e-nurse-0123456789abcdef"
PHYSICIAN = "giru_search-e2e-physician-0123456789ab"
ERAS = ["legacy", "2026-07-28"]
TRANSPORTS = ["legacy", "sse-2024-11-05", "2026-07-28"]

SERVER_TOOLS = """
  tools:
    charge_card: {tags: [pci, payments]}
    card_on_file: {tags: [pci]}
    patient_records: {tags: [phi]}
    export_ledger: {sensitivity: high, tags: [accounting]}
"""
POLICY = """
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: regulated}
spec:
  packs: [pci_dss, hipaa, soc2]
  selector: {servers: [reg]}
"""
SEARCH = """
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {name: find}
spec:
  servers: [reg]
  discovery: {mode: search, alwaysList: [reg__echo], limit: 3}
"""


def _client(name: str, key: str, claims: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"""
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: {name}}}
spec:
  apiKeyHash: "sha256:{digest}"
  servers: [reg]
  claims: {claims}
"""


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    manifests = "---".join(
        [
            python_stdio_server("reg", "regulated.py") + SERVER_TOOLS,
            _client("nurse", NURSE, "{user_id: u-17, role: nurse}"),
            _client("physician", PHYSICIAN, "{user_id: u-42, role: physician, mfa: true}"),
            POLICY,
            SEARCH,
        ]
    )
    with run_giru(manifests, tmp_path_factory.mktemp("search"), ready_timeout=180) as running:
        yield running


@asynccontextmanager
async def connect(giru: RunningGiru, key: str, era: str) -> AsyncIterator[Client]:
    """`era`: legacy or 2026-07-28 over Streamable HTTP, or sse-2024-11-05 (legacy HTTP+SSE)."""
    headers = {"Authorization": f"Bearer {key}"}
    async with create_mcp_http_client(headers=headers) as http:
        transport: Any = (
            sse_client(giru.url("/mcp/find/sse"), headers=headers)
            if era == "sse-2024-11-05"
            else streamable_http_client(giru.url("/mcp/find"), http_client=http)
        )
        mode = "2026-07-28" if era == "2026-07-28" else "legacy"
        async with Client(transport, mode=mode) as client:
            yield client


async def search(client: Client, query: str, **extra: Any) -> list[str]:
    result = await client.call_tool("search_tools", {"query": query, **extra})
    assert not result.is_error, result
    structured = result.structured_content
    assert structured is not None
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    assert json.loads(block.text) == structured  # the same JSON as text, for any client
    return [tool["name"] for tool in structured["tools"]]


@pytest.mark.parametrize("era", TRANSPORTS)
async def test_a_client_of_each_era_lists_searches_and_calls_a_found_tool(
    giru: RunningGiru, era: str
) -> None:
    async with connect(giru, PHYSICIAN, era) as client:
        if era == "2026-07-28":
            assert client.protocol_version == era
        listed = (await client.list_tools()).tools
        assert [tool.name for tool in listed] == ["search_tools", "reg__echo"]
        assert listed[0].output_schema is not None
        found = await search(client, "export the general ledger")
        assert found[0] == "reg__export_ledger"
        result = await client.call_tool("reg__export_ledger", {})
        block = result.content[0]
        assert isinstance(block, types.TextContent)
        assert block.text == "ledger exported"


@pytest.mark.parametrize("era", ERAS)
async def test_a_tool_policy_hides_from_the_caller_is_never_found(
    giru: RunningGiru, era: str
) -> None:
    """Without MFA, the nurse may never call export_ledger (SOC 2) nor charge_card (PCI DSS):
    its tools/list on /mcp hides them, and so does every search."""
    queries = ["export the general ledger", "charge a card payment", "accounting", "pci"]
    async with connect(giru, NURSE, era) as client:
        for query in queries:
            found = await search(client, query, limit=50)
            assert "reg__export_ledger" not in found, query
            assert "reg__charge_card" not in found, query
        assert "reg__patient_records" in await search(client, "read patient records")
    async with connect(giru, PHYSICIAN, era) as client:
        assert "reg__charge_card" in await search(client, "charge a card payment")


async def test_a_found_tool_is_decided_by_policy_like_a_listed_one(giru: RunningGiru) -> None:
    async with connect(giru, PHYSICIAN, "2026-07-28") as client:
        assert (await search(client, "charge a card"))[0] == "reg__charge_card"
        with pytest.raises(MCPError) as denied:
            await client.call_tool("reg__charge_card", {"card": "4111 1111 1111 1111", "amount": 1})
        assert denied.value.error.code == -31403
        result = await client.call_tool("reg__charge_card", {"card": "tok_visa", "amount": 2})
        block = result.content[0]
        assert isinstance(block, types.TextContent)
        assert block.text == "charged 2.00"


async def test_a_bad_search_is_invalid_params(giru: RunningGiru) -> None:
    async with connect(giru, PHYSICIAN, "legacy") as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("search_tools", {"query": "x", "limit": 500})
        assert refused.value.error.code == -32602
