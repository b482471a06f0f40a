"""Opaque access tokens checked by introspection (RFC 7662) in direct mode: a real `giru run`
against the real test IdP (oidc-provider minting opaque tokens for Giru's endpoints), and against
an introspection endpoint that misbehaves (an HTTP server of this test)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.idp import RESOURCE_SERVER_CLIENT, RESOURCE_SERVER_SECRET, IdentityProviderPeer
from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    KEY,
    RunningGiru,
    python_stdio_server,
    run_giru,
    wait_until,
)
from tests.integration.oauth import mcp, subscription
from tests.peers import LOOPBACK

pytestmark = pytest.mark.integration

_SECRET_VAR = "GIRU_TEST_INTROSPECTION_SECRET"
_BAD_SECRET = "bad-endpoint-secret"


def _manifests(issuer: str, introspection: str) -> str:
    provider = f"""
apiVersion: giru.ai/v1alpha1
kind: IdentityProvider
metadata: {{name: corp}}
spec:
  issuer: {issuer}
  mode: direct
  requiredScopes: [mcp]
  introspection: {introspection}
"""
    ward = """
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {name: ward}
spec: {servers: [clinic], auth: oauth}
"""
    nurses = subscription("nurses-clinic", "{group: nurses}")
    documents = [python_stdio_server("clinic"), CLIENT, provider, ward, nurses]
    return "\n---\n".join(d.strip() for d in documents)


@pytest.fixture(scope="module")
def giru(
    oidc_provider: IdentityProviderPeer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGiru]:
    """Giru introspecting the IdP's opaque tokens as its resource-server client
    (client_secret_post); answers not kept (`INTROSPECTION_CACHE_MAX_S=0`), so a revocation at
    the IdP shows at the next call."""
    introspection = (
        f"{{clientId: {RESOURCE_SERVER_CLIENT}, clientSecret: '${{{_SECRET_VAR}}}', "
        "authMethod: client_secret_post}"
    )
    env = {
        _SECRET_VAR: RESOURCE_SERVER_SECRET,
        "GIRU_IDENTITY__INTROSPECTION_CACHE_MAX_S": "0",
    }
    manifests = _manifests(oidc_provider.issuer, introspection)
    with run_giru(manifests, tmp_path_factory.mktemp("introspect"), extra_env=env) as running:
        for path in ("/mcp", "/mcp/ward"):
            oidc_provider.add_resource(running.url(path), opaque=True)
        yield running


def _opaque(idp: IdentityProviderPeer, giru: RunningGiru, login: str, path: str = "/mcp") -> str:
    token = idp.tokens(login, resource=giru.url(path)).access_token
    assert "." not in token
    return token


def _tools(giru: RunningGiru, token: str, path: str = "/mcp") -> set[str]:
    response = mcp(giru, "tools/list", token=token, path=path)
    assert response.status_code == 200, response.text
    return {tool["name"] for tool in response.json()["result"]["tools"]}


def _refusal(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]


def test_a_person_calls_a_tool_with_an_opaque_token(
    oidc_provider: IdentityProviderPeer, giru: RunningGiru
) -> None:
    token = _opaque(oidc_provider, giru, "alice")
    assert "clinic__echo" in _tools(giru, token)
    params = {"name": "clinic__echo", "arguments": {"text": "opaque vitals"}}
    response = mcp(giru, "tools/call", params, token=token)
    assert response.status_code == 200, response.text
    assert "opaque vitals" in response.text
    records: list[dict[str, Any]] = []

    def audited() -> bool:
        answer = httpx.get(
            giru.url("/api/v1/audit"),
            params={"actor": "user:alice@hospital.example", "action": "tools/call"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        records[:] = answer.json()["items"]
        return bool(records)

    wait_until(audited, "the audit record of alice's call")
    assert records[0]["details"]["client"] == "mcp-test-client"
    assert token not in json.dumps(records)


def test_a_person_outside_the_group_sees_no_tool(
    oidc_provider: IdentityProviderPeer, giru: RunningGiru
) -> None:
    assert _tools(giru, _opaque(oidc_provider, giru, "bob")) == set()


def test_an_opaque_token_for_another_resource_is_refused(
    oidc_provider: IdentityProviderPeer, giru: RunningGiru
) -> None:
    ward = _opaque(oidc_provider, giru, "alice", "/mcp/ward")
    assert "clinic__echo" in _tools(giru, ward, "/mcp/ward")
    response = mcp(giru, "tools/list", token=ward, path="/mcp")
    _refusal(response, 401, "another resource")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_token_revoked_at_the_idp_is_refused(
    oidc_provider: IdentityProviderPeer, giru: RunningGiru
) -> None:
    token = _opaque(oidc_provider, giru, "alice")
    assert "clinic__echo" in _tools(giru, token)
    oidc_provider.revoke(token)
    _refusal(mcp(giru, "tools/list", token=token), 401, "not active")


def test_a_made_up_opaque_token_is_refused_and_api_keys_still_work(giru: RunningGiru) -> None:
    response = mcp(giru, "tools/list", token="made-up-opaque-token-0123456789")
    _refusal(response, 401, "not active")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert mcp(giru, "tools/list", token=KEY).status_code == 200


@dataclass
class _BadEndpoint:
    """An issuer's introspection endpoint whose answer the test picks (`mode`); "slow" answers
    only once `release` is set (at teardown), long after Giru gave up."""

    url: str
    mode: str = "inactive"
    resource: str = ""
    release: threading.Event = field(default_factory=threading.Event)
    authorizations: list[str] = field(default_factory=list)

    def answer(self) -> tuple[int, str, bytes]:
        now = int(time.time())
        active = {
            "active": True,
            "iss": self.url,
            "sub": "sub-eve",
            "email": "eve@hospital.example",
            "groups": ["nurses"],
            "client_id": "agent",
            "scope": "mcp",
            "token_type": "Bearer",
            "exp": now + 300,
            "iat": now,
        }
        answers: dict[str, tuple[int, str, bytes | str]] = {
            "inactive": (200, "application/json", b'{"active": false}'),
            "active": (200, "application/json", json.dumps(active | {"aud": self.resource})),
            "other": (200, "application/json", json.dumps(active | {"aud": self.url + "/x"})),
            "expired": (
                200,
                "application/json",
                json.dumps(active | {"aud": self.resource, "exp": now - 3600}),
            ),
            "bound": (
                200,
                "application/json",
                json.dumps(active | {"aud": self.resource, "cnf": {"jkt": "x"}}),
            ),
            "refresh": (200, "application/json", json.dumps(active | {"token_type": "refresh"})),
            "500": (500, "application/json", b'{"error": "server_error"}'),
            "html": (200, "text/html", b"<!doctype html><title>Sign in</title><p>Hello</p>"),
            "no-active": (200, "application/json", b'{"sub": "sub-eve"}'),
            "huge": (200, "application/json", json.dumps(active | {"pad": "x" * 200_000})),
        }
        status, kind, body = answers[self.mode]
        return status, kind, body if isinstance(body, bytes) else body.encode()


@pytest.fixture(scope="module")
def bad_endpoint() -> Iterator[_BadEndpoint]:
    server = ThreadingHTTPServer((LOOPBACK, 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    endpoint = _BadEndpoint(f"http://{LOOPBACK}:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            endpoint.authorizations.append(self.headers.get("authorization", ""))
            if endpoint.mode == "slow":
                endpoint.release.wait(30)
            status, kind, body = endpoint.answer()
            try:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # Giru gave up and closed the connection
                return

        def log_message(self, format: str, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        endpoint.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def guarded(
    bad_endpoint: _BadEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGiru]:
    """Giru introspecting at `bad_endpoint` (client_secret_basic, 1 s timeout, nothing kept)."""
    introspection = (
        f"{{endpoint: {bad_endpoint.url}/introspect, clientId: giru, "
        f"clientSecret: '${{{_SECRET_VAR}}}'}}"
    )
    env = {
        _SECRET_VAR: _BAD_SECRET,
        "GIRU_IDENTITY__INTROSPECTION_TIMEOUT_S": "1",
        "GIRU_IDENTITY__INTROSPECTION_CACHE_MAX_S": "0",
        "GIRU_IDENTITY__INTROSPECTION_NEGATIVE_CACHE_S": "0",
    }
    directory: Path = tmp_path_factory.mktemp("introspect-bad")
    manifests = _manifests(bad_endpoint.url, introspection)
    with run_giru(manifests, directory, extra_env=env) as running:
        bad_endpoint.resource = running.url("/mcp")
        yield running


_TOKENS = iter(f"opaque-token-{i:04d}-abcdefghijklmnop" for i in range(10_000))


@pytest.mark.parametrize(
    ("mode", "status", "words"),
    [
        ("inactive", 401, "not active"),
        ("other", 401, "another resource"),
        ("expired", 401, "expired"),
        ("bound", 401, "bound to a key"),
        ("refresh", 401, "not a bearer access token"),
        ("500", 503, "did not answer"),
        ("html", 503, "did not answer"),
        ("huge", 503, "did not answer"),
        ("no-active", 503, "not valid"),
        ("slow", 503, "did not answer"),
    ],
)
def test_an_introspection_answer_that_is_not_a_yes_grants_nothing(
    bad_endpoint: _BadEndpoint, guarded: RunningGiru, mode: str, status: int, words: str
) -> None:
    bad_endpoint.mode = mode
    response = mcp(guarded, "tools/list", token=next(_TOKENS))
    _refusal(response, status, words)
    if status == 503:
        assert response.headers["retry-after"] == "5"


def test_an_active_answer_for_this_resource_admits_the_person(
    bad_endpoint: _BadEndpoint, guarded: RunningGiru
) -> None:
    bad_endpoint.mode = "active"
    assert "clinic__echo" in _tools(guarded, next(_TOKENS))
    assert bad_endpoint.authorizations[-1].startswith("Basic ")


def test_an_unavailable_endpoint_is_audited(
    bad_endpoint: _BadEndpoint, guarded: RunningGiru
) -> None:
    bad_endpoint.mode = "500"
    assert mcp(guarded, "tools/list", token=next(_TOKENS)).status_code == 503

    def audited() -> bool:
        answer = httpx.get(
            guarded.url("/api/v1/audit"),
            params={"actor": "unauthenticated"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        return "introspection endpoint did not answer" in answer.text

    wait_until(audited, "the audit record of the refusal")
