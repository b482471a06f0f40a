"""Limits on hostile sizes and shapes (docs/security/limits.md), against a real `giru run`.

Free-form JSON in manifests and API bodies is bounded at validation (422 naming the field, the
same problem from `giru validate`); a call that fails inside Giru is a JSON-RPC error with an
audit record, never a bare 500; oversized request headers are 431 before authentication; and an
unknown API key costs no slow hash.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    GIRU,
    KEY,
    REPO,
    RunningGiru,
    python_stdio_server,
    run_giru,
    wait_until,
)

pytestmark = pytest.mark.integration

ADMIN: Final = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MCP_HEADERS: Final = {
    "Authorization": f"Bearer {KEY}",
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}
ECHO: Final = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "bad__echo", "arguments": {"text": "ok"}},
}


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep (`{}` is one level)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def nested_text(depth: int) -> bytes:
    """`nested(depth)` as JSON text, for depths no JSON encoder writes."""
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


def deep_subscription(name: str, depth: int) -> bytes:
    """A Subscription body whose constraints are `depth` levels deep."""
    spec = b'{"client":"e2e","server":"bad","scopeType":"all","constraints":%s}' % nested_text(
        depth
    )
    return b'{"metadata":{"name":"%s"},"spec":%s}' % (name.encode(), spec)


def subscription(name: str, constraints: dict[str, Any]) -> dict[str, Any]:
    spec = {"client": "e2e", "server": "bad", "scopeType": "all", "constraints": constraints}
    return {"metadata": {"name": name}, "spec": spec}


def fields_of(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return [error["field"] for error in response.json().get("errors", [])]


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    manifests = "---".join([python_stdio_server("bad", "misbehaving.py"), CLIENT])
    with run_giru(manifests, tmp_path_factory.mktemp("limits")) as running:
        yield running


@pytest.fixture
def http(giru: RunningGiru) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=giru.base, timeout=30.0) as client:
        yield client


def session(http: httpx.Client) -> dict[str, str]:
    """Headers of a fresh, initialised 2025-11-25 session."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}},
    }
    response = http.post("/mcp", json=init, headers=MCP_HEADERS)
    assert response.status_code == 200, response.text
    headers = {**MCP_HEADERS, "Mcp-Session-Id": response.headers["mcp-session-id"]}
    done = http.post(
        "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    assert done.status_code == 202
    return headers


# -- free-form JSON fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "field"),
    # 5000 levels is past what the API's JSON parser takes at all: the body is what is invalid
    [(254, "spec.constraints"), (300, "spec.constraints"), (5000, "body")],
)
def test_subscription_constraints_nested_too_deep_are_422_naming_the_field(
    http: httpx.Client, depth: int, field: str
) -> None:
    response = http.post(
        "/api/v1/subscriptions",
        content=deep_subscription(f"deep-{depth}", depth),
        headers={**ADMIN, "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert fields_of(response) == [field]


def test_constraints_within_the_limit_are_accepted(http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/subscriptions", json=subscription("shallow", nested(32)), headers=ADMIN
    )

    assert response.status_code == 201, response.text
    assert http.delete("/api/v1/subscriptions/shallow", headers=ADMIN).status_code == 204


def test_constraints_larger_than_64_kib_are_422(http: httpx.Client) -> None:
    big = {"allow": ["x" * 1000] * 70}

    response = http.post("/api/v1/subscriptions", json=subscription("big", big), headers=ADMIN)

    assert response.status_code == 422, response.text
    assert fields_of(response) == ["spec.constraints"]


def test_policy_data_nested_too_deep_is_422_naming_the_pack(http: httpx.Client) -> None:
    document = {
        "metadata": {"name": "deep"},
        "spec": {"packs": ["core"], "data": {"core": nested(40)}},
    }

    response = http.post("/api/v1/policies", json=document, headers=ADMIN)

    assert response.status_code == 422, response.text
    assert fields_of(response) == ["spec.data.core"]


def test_policy_eval_input_nested_too_deep_is_422(http: httpx.Client) -> None:
    response = http.post("/api/v1/policy/eval", json={"input": nested(300)}, headers=ADMIN)

    assert response.status_code == 422, response.text
    assert fields_of(response) == ["input"]


def test_apply_names_the_document_and_field_of_deep_constraints(http: httpx.Client) -> None:
    document = {
        "apiVersion": "giru.ai/v1alpha1",
        "kind": "Subscription",
        **subscription("x", nested(300)),
    }

    response = http.post("/api/v1/apply", json={"documents": [document]}, headers=ADMIN)

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e.get("document"), e["field"]) for e in errors] == [(0, "spec.constraints")]


def test_giru_validate_reports_deep_constraints_in_a_manifest_file(tmp_path: Path) -> None:
    body = deep_subscription("x", 254)
    manifest = tmp_path / "deep.yaml"  # JSON is YAML
    manifest.write_bytes(b'{"apiVersion":"giru.ai/v1alpha1","kind":"Subscription",' + body[1:])

    result = subprocess.run(
        [str(GIRU), "validate", str(manifest)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )

    assert result.returncode != 0
    assert "spec.constraints" in result.stderr
    assert "nested deeper than 32 levels" in result.stderr


# -- the data path: JSON-RPC errors only ---------------------------------------------------------


def test_a_subscription_stored_before_the_limit_does_not_break_its_clients_calls(
    tmp_path: Path,
) -> None:
    """A row written by an older Giru (or by hand) with constraints 254 levels deep: the store
    no longer compiles it, and the client's calls are answered in JSON-RPC as ever."""
    manifests = "---".join([python_stdio_server("bad", "misbehaving.py"), CLIENT])
    with run_giru(manifests, tmp_path) as giru, httpx.Client(base_url=giru.base) as http:
        created = http.post("/api/v1/subscriptions", json=subscription("old", {}), headers=ADMIN)
        assert created.status_code == 201, created.text
    with sqlite3.connect(tmp_path / "giru.db") as db:
        db.execute(
            "UPDATE subscriptions SET constraints = ? WHERE name = 'old'",
            (nested_text(254).decode(),),
        )
    with run_giru(manifests, tmp_path) as giru, httpx.Client(base_url=giru.base) as http:
        response = http.post("/mcp", json=ECHO, headers=session(http))

        assert response.headers["content-type"].startswith("application/json"), response.text
        assert response.json()["result"]["content"][0]["text"] == "ok"
        deleted = http.delete("/api/v1/subscriptions/old", headers=ADMIN)
        assert deleted.status_code == 204, deleted.text


def test_an_upstream_result_too_deep_to_encode_is_a_json_rpc_error_with_an_audit_record(
    http: httpx.Client,
) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": "d",
        "method": "tools/call",
        "params": {"name": "bad__deep", "arguments": {}},
    }

    response = http.post("/mcp", json=call, headers=session(http))

    assert response.headers["content-type"].startswith("application/json"), response.text
    answer = response.json()
    assert (answer["id"], answer["error"]["code"]) == ("d", -32603)
    event = response.headers["giru-request-id"]

    def audited() -> bool:
        found = http.get("/api/v1/audit", params={"action": "tools/call"}, headers=ADMIN)
        return any(item["eventId"] == event for item in found.json()["items"])

    wait_until(audited, "an audit record of the failed call")


def test_the_next_call_after_a_failure_still_works(http: httpx.Client) -> None:
    headers = session(http)
    failing = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "bad__deep", "arguments": {}},
    }

    http.post("/mcp", json=failing, headers=headers)
    response = http.post("/mcp", json=ECHO, headers=headers)

    assert response.json()["result"]["content"][0]["text"] == "ok"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, 400, -32700, id="100k-deep-array"),
        pytest.param(
            b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, -32700, id="100k-deep-object"
        ),
        pytest.param(
            b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * (5 << 20) + b'"}}',
            413,
            -32600,
            id="5-mib",
        ),
    ],
)
def test_deep_or_huge_json_rpc_bodies_get_a_json_rpc_error(
    http: httpx.Client, body: bytes, status: int, code: int
) -> None:
    response = http.post("/mcp", content=body, headers=session(http))

    assert response.status_code == status, response.text[:300]
    assert response.json()["error"]["code"] == code
