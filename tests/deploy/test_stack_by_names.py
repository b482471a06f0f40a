"""The stack addressed by DNS names, as under Compose and Kubernetes: the control plane gives
Envoy `localhost:PORT` for the workers, ext_authz, itself and the xDS server, instead of IPs.
Envoy gets STRICT_DNS clusters (it resolves and follows the names) and routes as before."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.calls import tool_call
from tests.integration.gateway import CLIENT, KEY, python_stdio_server
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    manifests = "---".join([python_stdio_server("kit"), CLIENT])
    with running_stack(
        tmp_path_factory.mktemp("stack-names"),
        manifests,
        env={"GIRU_E2E_KEY": KEY},
        advertise="localhost",
    ) as running:
        yield running


def _cluster_types(stack: Stack) -> dict[str, str]:
    dump = httpx.get(f"{stack.admin}/config_dump?resource=dynamic_active_clusters", timeout=5)
    clusters = [entry["cluster"] for entry in dump.json()["configs"]]
    return {cluster["name"]: cluster.get("type", "EDS") for cluster in clusters}


def test_names_become_strict_dns_clusters_that_envoy_accepts(stack: Stack) -> None:
    types = _cluster_types(stack)
    assert types["giru_workers"] == "STRICT_DNS"
    assert types["giru_control"] == "STRICT_DNS"
    assert types["giru_authz"] == "STRICT_DNS"
    assert {types[f"giru_worker_{name}"] for name in stack.worker_names} == {"STRICT_DNS"}


def test_a_tool_call_through_envoy_is_answered_when_everything_is_a_name(stack: Stack) -> None:
    # `up` already waited until requests through Envoy reached both workers by their names.
    body, headers = tool_call(KEY, "kit__echo", {"text": "by name"}, 1)
    answer = httpx.post(stack.url("/mcp"), content=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    text = answer.text
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        text = [line[5:] for line in text.splitlines() if line.startswith("data:")][-1]
    assert json.loads(text)["result"]["content"][0]["text"] == "by name"


def test_a_bad_key_is_refused_at_the_edge_by_ext_authz_found_by_name(stack: Stack) -> None:
    body, headers = tool_call("not-a-key", "kit__echo", {"text": "x"}, 2)
    answer = httpx.post(stack.url("/mcp"), content=body, headers=headers, timeout=30)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
