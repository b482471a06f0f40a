"""Every list method pages through Giru's own cursors, in both eras: with a small page size
(`GIRU_HTTP__PAGE_SIZE`) the first page is full and carries `nextCursor`, the next page goes on
where it stopped, and the pages together are the whole list, each item once.

The upstreams are real: the reference `server-everything` over stdio (tools, resources,
resource templates, prompts) and the Go SDK's conformance fixture over stdio.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import pytest

from tests.integration.gateway import CLIENT, KEY, RunningGiru, run_giru
from tests.peers import TOOLS, everything_argv, go_fixture_argv, require_tools

pytestmark = pytest.mark.integration

PAGE_SIZE: Final = 2
MODERN: Final = "2026-07-28"
LEGACY: Final = "2025-11-25"
LISTS: Final = {  # method: (result key, what names an item)
    "tools/list": ("tools", "name"),
    "resources/list": ("resources", "uri"),
    "resources/templates/list": ("resourceTemplates", "uriTemplate"),
    "prompts/list": ("prompts", "name"),
}


def _stdio_server(name: str, argv: list[str]) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: stdio
  command: {json.dumps(argv[0])}
  args: {json.dumps(argv[1:])}
  timeouts: {{call: 10s, callMax: 20s, connect: 30s}}
"""


@dataclass
class _Client:
    """One client of Giru's `/mcp` in one era (legacy: an initialized session)."""

    giru: RunningGiru
    http: httpx.Client
    era: str
    session: str | None = None
    ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def headers(self, method: str) -> dict[str, str]:
        headers = {
            "authorization": f"Bearer {KEY}",
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
        }
        if self.era == "modern":
            return {**headers, "mcp-protocol-version": MODERN, "mcp-method": method}
        if self.session is not None:
            headers |= {"mcp-protocol-version": LEGACY, "mcp-session-id": self.session}
        return headers

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.era == "modern":
            meta = {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
            params = {**params, "_meta": meta}
        body = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}
        response = self.http.post(self.giru.url("/mcp"), json=body, headers=self.headers(method))
        assert response.status_code == 200, response.text
        if self.era == "legacy" and self.session is None:
            self.session = response.headers["mcp-session-id"]
        answer: dict[str, Any] = response.json()
        assert "result" in answer, answer
        result: dict[str, Any] = answer["result"]
        return result

    def open(self) -> _Client:
        if self.era == "legacy":
            self.request("initialize", {"protocolVersion": LEGACY, "capabilities": {}})
            done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            sent = self.http.post(self.giru.url("/mcp"), json=done, headers=self.headers(""))
            assert sent.status_code == 202, sent.text
        return self


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    require_tools(TOOLS.node, TOOLS.go_fixture)
    manifests = "---".join(
        [
            _stdio_server("everything", everything_argv("stdio")),
            _stdio_server("fixture", go_fixture_argv()),
            CLIENT,
        ]
    )
    workdir = tmp_path_factory.mktemp("pagination")
    with run_giru(
        manifests, workdir, extra_env={"GIRU_HTTP__PAGE_SIZE": str(PAGE_SIZE)}
    ) as running:
        yield running


@pytest.fixture(params=["legacy", "modern"])
def client(request: pytest.FixtureRequest, giru: RunningGiru) -> Iterator[_Client]:
    with httpx.Client(timeout=30) as http:
        yield _Client(giru, http, request.param).open()


@pytest.mark.parametrize("method", list(LISTS))
def test_a_second_page_follows_the_first_through_gateway_cursors(
    client: _Client, method: str
) -> None:
    key, name = LISTS[method]
    first = client.request(method, {})
    assert len(first[key]) == PAGE_SIZE, first
    cursor = first["nextCursor"]
    assert isinstance(cursor, str)
    assert cursor
    second = client.request(method, {"cursor": cursor})
    assert second[key], second
    names = [item[name] for item in first[key] + second[key]]
    while second.get("nextCursor"):
        second = client.request(method, {"cursor": second["nextCursor"]})
        assert len(second[key]) <= PAGE_SIZE
        names += [item[name] for item in second[key]]
    assert len(names) == len(set(names)) > PAGE_SIZE  # every item once, across pages


def test_both_eras_page_through_the_same_lists(giru: RunningGiru) -> None:
    with httpx.Client(timeout=30) as http:
        lists: dict[str, dict[str, list[str]]] = {}
        for era in ("legacy", "modern"):
            client = _Client(giru, http, era).open()
            lists[era] = {method: _all(client, method) for method in LISTS}
    assert lists["legacy"] == lists["modern"]


def _all(client: _Client, method: str) -> list[str]:
    key, name = LISTS[method]
    names: list[str] = []
    params: dict[str, Any] = {}
    while True:
        page = client.request(method, params)
        names += [item[name] for item in page[key]]
        if not page.get("nextCursor"):
            return names
        params = {"cursor": page["nextCursor"]}
