"""Limits on hostile sizes and shapes (docs/security/limits.md), against a real `giru run`.

Free-form JSON in manifests and API bodies is bounded at validation (422 naming the field, the
same problem from `giru validate`); a call that fails inside Giru is a JSON-RPC error with an
audit record, never a bare 500; oversized request headers are 431 before authentication; and an
unknown API key costs no slow hash.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pytest

from giru.access import generate_key, hash_key
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


# -- request headers -----------------------------------------------------------------------------


def raw_exchange(giru: RunningGiru, head: bytes, *, chunk: int = 65536) -> bytes:
    """Send `head` (a request line and headers) on a fresh connection; what came back."""
    host, port = giru.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            for start in range(0, len(head), chunk):
                sock.sendall(head[start : start + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-flood: the answer is already on its way
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    return answer


def post_head(path: str, lines: int, line: bytes = b"X-D: v\r\n") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\n".encode()
        + line * lines
        + b"\r\n{}"
    )


def status_and_body(answer: bytes) -> tuple[int, bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.lower(), body


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        pytest.param(101, b"X-D: v\r\n", id="101-lines"),
        pytest.param(250_000, b"X-D: v\r\n", id="250k-lines-2mb"),
        pytest.param(1, b"X-D: " + b"v" * 40_000 + b"\r\n", id="one-40kb-line"),
        pytest.param(1, b"X-D: " + b"v" * (32 << 20) + b"\r\n", id="one-32mb-line"),
    ],
)
def test_oversized_header_sections_are_431_before_authentication(
    giru: RunningGiru, lines: int, line: bytes
) -> None:
    status, head, body = status_and_body(raw_exchange(giru, post_head("/mcp", lines, line)))

    assert status == 431
    assert b"content-type: application/json" in head
    assert orjson.loads(body)["error"]["code"] == -32600


def test_the_api_answers_oversized_header_sections_with_431_problem_json(giru: RunningGiru) -> None:
    status, head, body = status_and_body(raw_exchange(giru, post_head("/api/v1/clients", 200)))

    assert status == 431
    assert b"content-type: application/problem+json" in head
    assert orjson.loads(body)["status"] == 431


def test_a_request_within_the_header_limits_is_served(
    giru: RunningGiru, http: httpx.Client
) -> None:
    headers = {**MCP_HEADERS, **{f"X-Extra-{n}": "v" * 200 for n in range(80)}}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize"}
    init["params"] = {"protocolVersion": "2025-11-25", "capabilities": {}}

    response = http.post("/mcp", json=init, headers=headers)

    assert response.status_code == 200, response.text


def test_healthz_answers_while_a_header_flood_connection_is_open(
    giru: RunningGiru, http: httpx.Client
) -> None:
    host, port = giru.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as flood:
        flood.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-D: v\r\n" * 3000)

        assert http.get("/healthz").status_code == 200

        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            flood.sendall(b"X-D: v\r\n" * 250_000)
        assert flood.recv(65536).startswith(b"HTTP/1.1 431 ")
    assert http.get("/healthz").status_code == 200


# -- the cost of an unknown key ------------------------------------------------------------------

KEYED: Final = generate_key()
"""A key in the current format, `giru_<id>_<secret>`: its hash is filed under its id."""
LEGACY_KEY: Final = "giru_" + "L" * 43
"""A key made before identifiers, behind a bare argon2id hash."""


def argon2_client(name: str, key: str) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: {name}}}
spec:
  apiKeyHash: '{hash_key(key)}'
  servers: ["*"]
"""


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    manifests = "---".join(
        [
            python_stdio_server("bad", "misbehaving.py"),
            argon2_client("keyed", KEYED),
            argon2_client("legacy", LEGACY_KEY),
        ]
    )
    env = {"GIRU_AUTH__FAILURES_PER_MINUTE": "5"}
    with run_giru(manifests, tmp_path_factory.mktemp("keys"), extra_env=env) as running:
        yield running


def client_from(giru: RunningGiru, source: str) -> httpx.Client:
    """A client whose connections come from `source` (a loopback address of its own), so each
    test has its own failed-authentication budget."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=giru.base, transport=transport, timeout=30.0)


def slow_verifications(giru: RunningGiru) -> float:
    metrics = httpx.get(giru.url("/metrics")).text
    (line,) = [
        m for m in metrics.splitlines() if m.startswith("giru_auth_slow_verifications_total ")
    ]
    return float(line.split()[1])


def ping_with(http: httpx.Client, key: str) -> httpx.Response:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {key}"}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize"}
    init["params"] = {"protocolVersion": "2025-11-25", "capabilities": {}}
    return http.post("/mcp", json=init, headers=headers)


def test_unknown_keys_in_the_current_format_cost_no_slow_verification(keyed: RunningGiru) -> None:
    before = slow_verifications(keyed)
    with client_from(keyed, "127.0.0.2") as http:
        answers = [ping_with(http, generate_key()).status_code for _ in range(4)]
        assert slow_verifications(keyed) == before
        assert answers == [401] * 4

        assert ping_with(http, KEYED).status_code == 200
        assert ping_with(http, KEYED).status_code == 200
    assert slow_verifications(keyed) == before + 1  # the one candidate, once, then cached


def test_a_repeated_unknown_legacy_key_costs_one_slow_verification(keyed: RunningGiru) -> None:
    before = slow_verifications(keyed)
    with client_from(keyed, "127.0.0.3") as http:
        answers = [ping_with(http, "giru_" + "x" * 43).status_code for _ in range(4)]

    assert answers == [401] * 4
    assert slow_verifications(keyed) == before + 1


def test_failed_authentications_are_rate_limited_per_source_and_audited(
    keyed: RunningGiru,
) -> None:
    with client_from(keyed, "127.0.0.4") as attacker, client_from(keyed, "127.0.0.5") as other:
        failures = [ping_with(attacker, "giru_" + f"{n:043d}").status_code for n in range(5)]
        before = slow_verifications(keyed)
        limited = ping_with(attacker, "giru_" + "y" * 43)
        still_limited = ping_with(attacker, LEGACY_KEY)
        served = ping_with(other, LEGACY_KEY)

    assert failures == [401] * 5
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["data"] == {"reason": "auth_failures"}
    assert still_limited.status_code == 429
    assert served.status_code == 200
    assert slow_verifications(keyed) == before + 1  # only the other source's good key

    def audited() -> bool:
        found = httpx.get(
            keyed.url("/api/v1/audit"), params={"outcome": "rate_limited"}, headers=ADMIN
        ).json()["items"]
        return any(item["sourceIp"] == "127.0.0.4" for item in found)

    wait_until(audited, "an audit record of the refusal")
