"""Opaque values a client hands back, tried by a second client (docs/security/opaque-values.md).

Two clients, A (`e2e`) and B (`other`), each with its own key, in front of a real modern
upstream that issues its own requestState (the Go conformance fixture, stateless 2026-07-28:
its `test_input_required_result_multi_round` keeps the first answer in the state) and a real
legacy upstream that asks mid-call (the Python SDK `everything.py`, whose question Giru parks).
Every value one client received is refused to the other (-32602 or 404, as the transport
requires) and the refusal is audited; the value still works for the client it was handed to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
import orjson
import pytest

from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    KEY,
    RunningGiru,
    http_server,
    python_stdio_server,
    run_giru,
    virtual_server,
    wait_until,
)

pytestmark = pytest.mark.integration

OTHER_KEY: Final = "other-opaque-key-0123456789"
MODERN: Final = "2026-07-28"
LEGACY: Final = "2025-11-25"
MULTI_ROUND: Final = "fixture__test_input_required_result_multi_round"
OTHER_CLIENT: Final = """
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: other}
spec:
  apiKeyEnv: GIRU_OTHER_KEY
  servers: ["*"]
"""
PAGE_SIZE: Final = 5
SESSION_REFUSED: Final = "{} refused: issued to another client or endpoint"


@dataclass
class Giru:
    running: RunningGiru
    http: httpx.Client

    def modern(
        self,
        key: str,
        method: str,
        params: dict[str, Any],
        *,
        path: str = "/mcp",
        id: Any = 1,
    ) -> httpx.Response:
        """A 2026-07-28 request (it declares elicitation) with the headers that match it."""
        meta = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
        }
        body = {"jsonrpc": "2.0", "id": id, "method": method, "params": {**params, "_meta": meta}}
        headers = {
            "authorization": f"Bearer {key}",
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": MODERN,
            "mcp-method": method,
        }
        name = params.get("name", params.get("uri"))
        if isinstance(name, str):
            headers["mcp-name"] = name
        return self.http.post(self.running.url(path), content=orjson.dumps(body), headers=headers)

    def legacy_session(self, key: str, path: str = "/mcp") -> str:
        auth = _legacy_headers(key)
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}},
        }
        response = self.http.post(self.running.url(path), json=init, headers=auth)
        assert response.status_code == 200, response.text
        session = str(response.headers["mcp-session-id"])
        done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        headers = {**auth, "mcp-session-id": session}
        assert self.http.post(self.running.url(path), json=done, headers=headers).status_code == 202
        return session

    def audited(self, actor: str, refusal: str) -> dict[str, Any]:
        """The audit record of `actor`'s refused request whose `details.refusal` is `refusal`
        (records reach the store through the spool: waited for, bounded)."""
        found: list[dict[str, Any]] = []

        def present() -> bool:
            response = self.http.get(
                self.running.url("/api/v1/audit"),
                params={"actor": actor, "limit": 100},
                headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert response.status_code == 200, response.text
            found[:] = [
                item
                for item in response.json()["items"]
                if item["details"].get("refusal") == refusal
            ]
            return bool(found)

        wait_until(present, f"an audit record of {actor} with refusal {refusal!r}")
        return found[0]


def _legacy_headers(key: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {key}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": LEGACY,
    }


def _message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response in a plain JSON or an SSE answer (its last `data:` line)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [line for line in response.text.splitlines() if line.startswith("data:")]
        message: dict[str, Any] = orjson.loads(lines[-1][len("data:") :])
        return message
    answer: dict[str, Any] = response.json()
    return answer


def _result(response: httpx.Response) -> dict[str, Any]:
    message = _message(response)
    assert "result" in message, message
    result: dict[str, Any] = message["result"]
    return result


def _refused(response: httpx.Response, what: str) -> None:
    message = _message(response)
    assert message.get("error", {}).get("code") == -32602, message
    assert message["error"]["message"] == f"Invalid {what}"
    assert "alice" not in response.text


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory, go_fixture_modern: str) -> Iterator[Giru]:
    workdir = tmp_path_factory.mktemp("opaque-values")
    manifests = "---".join(
        [
            http_server("fixture", "streamable-http", go_fixture_modern),
            python_stdio_server("py"),
            CLIENT,
            OTHER_CLIENT,
            virtual_server("solo", ["fixture"], prefix=False),
        ]
    )
    env = {"GIRU_OTHER_KEY": OTHER_KEY, "GIRU_HTTP__PAGE_SIZE": str(PAGE_SIZE)}
    os.environ["GIRU_OTHER_KEY"] = OTHER_KEY
    try:
        with (
            run_giru(manifests, workdir, extra_env=env) as running,
            httpx.Client(timeout=30.0) as http,
        ):
            yield Giru(running, http)
    finally:
        os.environ.pop("GIRU_OTHER_KEY", None)


def _alice_answered_round_one(giru: Giru) -> str:
    """Client A starts the two-round call and answers round 1; the state Giru hands back."""
    first = _result(giru.modern(KEY, "tools/call", {"name": MULTI_ROUND, "arguments": {}}))
    assert first["resultType"] == "input_required", first
    answer = {"step1": {"action": "accept", "content": {"name": "alice-7f3a"}}}
    second = _result(
        giru.modern(
            KEY,
            "tools/call",
            {
                "name": MULTI_ROUND,
                "arguments": {},
                "requestState": first["requestState"],
                "inputResponses": answer,
            },
        )
    )
    assert second["resultType"] == "input_required", second
    state = second["requestState"]
    assert isinstance(state, str)
    return state


def _round_two(state: object, name: str = MULTI_ROUND) -> dict[str, Any]:
    return {
        "name": name,
        "arguments": {},
        "requestState": state,
        "inputResponses": {"step2": {"action": "accept", "content": {"color": "red"}}},
    }


def test_client_b_cannot_complete_client_as_multi_round_call_with_as_request_state(
    giru: Giru,
) -> None:
    state = _alice_answered_round_one(giru)
    stolen = giru.modern(OTHER_KEY, "tools/call", _round_two(state), id="b-1")
    _refused(stolen, "requestState")
    assert _message(stolen)["id"] == "b-1"
    assert "alice" not in state, "the upstream's state reached the client as issued"
    record = giru.audited("other", "requestState refused: principal")
    assert (record["action"], record["target"]) == ("tools/call", MULTI_ROUND)
    assert record["reasons"] == ["Invalid requestState"]
    done = _result(giru.modern(KEY, "tools/call", _round_two(state)))
    assert "alice-7f3a likes red" in orjson.dumps(done).decode()


@pytest.mark.parametrize(
    ("path", "name", "refusal"),
    [
        ("/mcp/solo", "test_input_required_result_multi_round", "endpoint"),
        ("/mcp", "fixture__test_input_required_result_request_state", "target"),
    ],
)
def test_a_request_state_works_only_on_its_endpoint_and_tool(
    giru: Giru, path: str, name: str, refusal: str
) -> None:
    state = _alice_answered_round_one(giru)
    _refused(giru.modern(KEY, "tools/call", _round_two(state, name), path=path), "requestState")
    giru.audited("e2e", f"requestState refused: {refusal}")


def test_an_upstream_state_made_up_by_a_client_never_reaches_the_upstream(giru: Giru) -> None:
    """A client that knows the upstream's state format cannot forge one: only Giru's envelope
    is accepted."""
    forged = giru.modern(OTHER_KEY, "tools/call", _round_two("round=2;name=alice-forged"))
    _refused(forged, "requestState")
    giru.audited("other", "requestState refused: not_sealed")


def test_client_b_cannot_answer_client_as_parked_question(giru: Giru) -> None:
    """A legacy upstream's question is parked by Giru; its state is bound the same way."""
    asked = _result(giru.modern(KEY, "tools/call", {"name": "py__ask", "arguments": {}}))
    assert asked["resultType"] == "input_required", asked
    (key,) = asked["inputRequests"]
    retry = {
        "name": "py__ask",
        "arguments": {},
        "requestState": asked["requestState"],
        "inputResponses": {key: {"action": "accept", "content": {"name": "mallory"}}},
    }
    _refused(giru.modern(OTHER_KEY, "tools/call", retry), "requestState")
    giru.audited("other", "requestState refused: binding")
    retry["inputResponses"] = {key: {"action": "accept", "content": {"name": "alice"}}}
    assert "accept:alice" in orjson.dumps(_result(giru.modern(KEY, "tools/call", retry))).decode()


def test_client_b_cannot_page_with_client_as_cursor(giru: Giru) -> None:
    first = _result(giru.modern(KEY, "tools/list", {}))
    assert len(first["tools"]) == PAGE_SIZE
    cursor = first["nextCursor"]
    _refused(giru.modern(OTHER_KEY, "tools/list", {"cursor": cursor}), "cursor")
    giru.audited("other", "cursor refused: principal")
    _refused(giru.modern(KEY, "tools/list", {"cursor": cursor}, path="/mcp/solo"), "cursor")
    second = _result(giru.modern(KEY, "tools/list", {"cursor": cursor}))
    names = {tool["name"] for tool in first["tools"]}
    assert names.isdisjoint(tool["name"] for tool in second["tools"])


def test_client_b_cannot_use_client_as_session_id(giru: Giru) -> None:
    session = giru.legacy_session(KEY)
    ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {**_legacy_headers(OTHER_KEY), "mcp-session-id": session}
    assert giru.http.post(giru.running.url("/mcp"), json=ping, headers=headers).status_code == 404
    record = giru.audited("other", SESSION_REFUSED.format("Mcp-Session-Id"))
    assert (record["action"], record["target"], record["outcome"]) == (
        "session",
        "/mcp",
        "bad_request",
    )
    mine = {**_legacy_headers(KEY), "mcp-session-id": session}
    other_endpoint = giru.http.post(giru.running.url("/mcp/solo"), json=ping, headers=mine)
    assert other_endpoint.status_code == 404
    giru.audited("e2e", SESSION_REFUSED.format("Mcp-Session-Id"))
    assert giru.http.post(giru.running.url("/mcp"), json=ping, headers=mine).status_code == 200


def test_client_b_cannot_resume_client_as_stream_with_its_last_event_id(giru: Giru) -> None:
    """A Last-Event-ID names a stream of one session: it is looked up only inside a session
    the presenting client owns."""
    session = giru.legacy_session(KEY)
    headers = {
        **_legacy_headers(OTHER_KEY),
        "accept": "text/event-stream",
        "mcp-session-id": session,
        "last-event-id": "1.1",
    }
    assert giru.http.get(giru.running.url("/mcp"), headers=headers).status_code == 404


def test_client_b_cannot_post_into_client_as_sse_session(giru: Giru) -> None:
    """The 2024-11-05 transport's `sessionId` query parameter is bound to its client and
    endpoint like `Mcp-Session-Id`."""
    auth = {"authorization": f"Bearer {KEY}", "accept": "text/event-stream"}
    with giru.http.stream("GET", giru.running.url("/sse"), headers=auth) as stream:
        lines = stream.iter_lines()
        endpoint = next(line for line in lines if line.startswith("data:"))[len("data:") :]
        url = giru.running.url(endpoint.strip())
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        theirs = {"authorization": f"Bearer {OTHER_KEY}", "content-type": "application/json"}
        assert giru.http.post(url, json=ping, headers=theirs).status_code == 404
        giru.audited("other", SESSION_REFUSED.format("sessionId"))
        mine = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
        solo = url.replace("/messages", "/mcp/solo/messages")
        assert giru.http.post(solo, json=ping, headers=mine).status_code == 404
        assert giru.http.post(url, json=ping, headers=mine).status_code == 202
