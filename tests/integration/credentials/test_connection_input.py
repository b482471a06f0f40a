"""Bad input at the connection callback and in discovery: every refusal answers a page saying
why, makes no connection, and the connect attempt is audited (without a code or a token)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.idp import CONFIDENTIAL_CLIENT
from tests.integration.credentials.calls import apply
from tests.integration.credentials.connections import (
    ConnectedGiru,
    audit_records,
    connected_giru,
    oauth_server,
    protected_upstream,
)
from tests.integration.gateway import wait_until
from tests.peers import LOOPBACK

pytestmark = pytest.mark.integration


def _start(env: ConnectedGiru, login: str = "alice") -> str:
    """A flow started through the API: its authorization URL."""
    started = env.api("POST", "/api/v1/servers/files/connections", login)
    assert started.status_code == 201, started.text
    return str(started.json()["authorizationUrl"])


def _state(authorization_url: str) -> str:
    return parse_qs(urlsplit(authorization_url).query)["state"][0]


def _callback(env: ConnectedGiru, **query: str) -> httpx.Response:
    return httpx.get(env.callback, params=query, timeout=30)


def _connections(env: ConnectedGiru, login: str = "alice") -> list[dict[str, Any]]:
    listed = env.api("GET", "/api/v1/servers/files/connections", login)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def test_bad_callbacks_are_refused_and_connect_nothing(tmp_path: Path) -> None:
    with connected_giru(tmp_path) as env:
        issuer = env.idp.issuer
        forged = _callback(env, state="gc1." + "A" * 120, code="x", iss=issuer)
        assert forged.status_code == 400
        assert "unknown state" in forged.text
        assert _callback(env, code="x").status_code == 400
        assert _callback(env, state="elsewhere", code="x").status_code == 400

        state = _state(_start(env))
        altered = state[:-3] + ("AAA" if not state.endswith("AAA") else "BBB")
        assert "unknown state" in _callback(env, state=altered, code="x", iss=issuer).text
        denied = _callback(env, state=state, error="access_denied", iss=issuer)
        assert denied.status_code == 400
        assert "access_denied" in denied.text
        used = _callback(env, state=state, code="x", iss=issuer)
        assert used.status_code == 400
        assert "already completed" in used.text

        other_issuer = _callback(
            env, state=_state(_start(env)), code="x", iss="http://evil.example"
        )
        assert other_issuer.status_code == 400
        assert "issuer" in other_issuer.text

        with httpx.Client(timeout=30) as browser:  # a code issued for another redirect URI
            code, _ = env.idp.authorization_code(
                browser, "alice", resource=env.upstream.url, client_id=CONFIDENTIAL_CLIENT
            )
        foreign = _callback(env, state=_state(_start(env)), code=code, iss=issuer)
        assert foreign.status_code == 400, foreign.text
        assert "invalid_grant" in foreign.text
        assert _connections(env) == []

        refused = [
            r for r in audit_records(env, "connections/connect") if r["outcome"] != "allowed"
        ]
        assert len(refused) >= 3
        assert all(r["target"] == "alice@hospital.example" for r in refused)
        assert code not in json.dumps(refused)


def test_a_replayed_callback_is_refused_and_the_connection_stays(tmp_path: Path) -> None:
    with connected_giru(tmp_path) as env, httpx.Client(timeout=30) as browser:
        landed = env.idp.sign_in_at(browser, _start(env), "alice", stop_at=env.callback)
        assert browser.get(landed).status_code == 200
        again = httpx.get(landed, timeout=30)
        assert again.status_code == 400
        assert "already completed" in again.text
        (kept,) = _connections(env)
        assert kept["status"] == "connected"


@contextmanager
def _lying_authorization_server() -> Iterator[str]:
    """Authorization server metadata that names another issuer (RFC 8414 §3.3)."""
    server = ThreadingHTTPServer((LOOPBACK, 0), BaseHTTPRequestHandler)
    url = f"http://{LOOPBACK}:{server.server_address[1]}"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            document = {
                "issuer": "https://elsewhere.example",
                "authorization_endpoint": f"{url}/authorize",
                "token_endpoint": f"{url}/token",
            }
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_authorization_server_metadata_naming_another_issuer_is_refused(tmp_path: Path) -> None:
    with connected_giru(tmp_path) as env, _lying_authorization_server() as liar:
        lair = tmp_path / "liar"
        lair.mkdir()
        with protected_upstream(lair, liar) as upstream:
            apply(env.giru, oauth_server("liar", upstream.url, "shared"))
            wait_until(
                lambda: env.api("GET", "/api/v1/servers/liar", None).status_code == 200,
                "the server is applied",
            )
            refused = env.api("POST", "/api/v1/servers/liar/connections", None)
            assert refused.status_code == 503, refused.text
            assert "RFC 8414" in refused.json()["detail"]
