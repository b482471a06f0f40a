"""A call parked for a person's approval is not cut off by the edge: through the whole stack
(`make stack`'s topology: Envoy configured over xDS, the control plane, a worker, Redis, OPA,
PostgreSQL), with sessions that idle out sooner than the approval queue waits, a destructive
call nobody decides ends with Giru's own refusal at the approval timeout, not with Envoy's
stream timeout; Envoy holds the MCP routes' idle timeout the control plane derived from the
approval settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from giru.upstream.base import Timeouts
from tests.e2e.calls import tool_call
from tests.integration.gateway import CLIENT, KEY, python_stdio_server
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.integration

SESSION_IDLE_S = 2
APPROVAL_S = 4
ELICITATION_S = 1
_DESTRUCTIVE = "  tools:\n    echo: {tags: [destructive]}\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    manifests = "---".join([python_stdio_server("kit") + _DESTRUCTIVE, CLIENT])
    env = {
        "GIRU_E2E_KEY": KEY,
        "GIRU_SESSIONS__IDLE_TIMEOUT_S": str(SESSION_IDLE_S),
        "GIRU_APPROVALS__TIMEOUT_S": str(APPROVAL_S),
        "GIRU_APPROVALS__ELICITATION_TIMEOUT_S": str(ELICITATION_S),
    }
    root = tmp_path_factory.mktemp("approvals-edge") / "stack"
    with running_stack(root, manifests, workers=1, env=env) as running:
        yield running


def _mcp_routes(stack: Stack) -> list[dict[str, Any]]:
    dump = httpx.get(f"{stack.admin}/config_dump?resource=dynamic_route_configs", timeout=5)
    dump.raise_for_status()
    routes: list[dict[str, Any]] = []
    for config in dump.json()["configs"]:
        for host in config["route_config"]["virtual_hosts"]:
            routes += [r for r in host["routes"] if r["match"].get("path", "").startswith("/mcp")]
    return routes


def test_envoy_holds_mcp_streams_longer_than_an_approval_and_a_call_can_take(
    stack: Stack,
) -> None:
    longest = ELICITATION_S + APPROVAL_S + Timeouts().call_max
    routes = _mcp_routes(stack)
    assert routes
    for route in routes:
        assert int(route["route"]["idle_timeout"].removesuffix("s")) > longest
        assert route["route"]["timeout"] == "0s"


def test_a_parked_call_nobody_decides_gets_giru_s_refusal_through_the_edge(stack: Stack) -> None:
    body, headers = tool_call(KEY, "kit__echo", {"text": "parked at the edge"}, 7)
    response = httpx.post(stack.url("/mcp"), content=body, headers=headers, timeout=60)
    assert response.status_code != 504, response.text  # Envoy's stream timeout
    answer = response.json()
    assert answer["id"] == 7
    assert answer["error"]["data"]["reason"] == "approval_expired", answer
    assert "no decision on" in answer["error"]["message"]
