"""Two `giru run` workers sharing PostgreSQL and Redis, one server whose OAuth connections the
test IdP (oidc-provider) authorizes; the IdP takes a second to answer a refresh.

Refresh: a `shared` connection whose access token expires 2 s after it was issued; once it has
expired, fifty concurrent calls spread over both workers are served after exactly one refresh
token request at the IdP (the workers take the Redis token lock in turn; the second reads the
tokens the first kept). Without the lock both workers would refresh: the IdP's second is far
longer than they take to collide.

Disconnect during a refresh: a person's token has expired, a call through one worker refreshes
it (the IdP takes three seconds), the person disconnects through the other meanwhile; the
refresh does not bring the connection back, and the next calls ask the person to connect.

Notices: a person reconnects or disconnects through one worker, and the other's next call
carries the new token, or asks the person to connect, instead of the token it held.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.idp import IdentityProviderPeer, start_identity_provider
from tests.integration.credentials.calls import ADMIN_HEADERS, Mcp, apply, put_secret
from tests.integration.credentials.connections import (
    ProtectedUpstream,
    audit_records,
    connection_manifests,
    oauth_server,
    protected_upstream,
)
from tests.integration.gateway import CLIENT, RunningGiru, run_giru, wait_until
from tests.integration.oauth import mcp

pytestmark = pytest.mark.integration

SHARED_KEK = bytes(range(32)).hex()
REFRESH_DELAY_MS = 1000
"""How long the IdP takes to answer a refresh: far longer than the workers take to collide."""
SLOW_REFRESH_MS = 3000
"""A refresh slow enough for a disconnect to be made while it is under way."""


@dataclass
class Workers:
    a: RunningGiru
    b: RunningGiru
    idp: IdentityProviderPeer
    upstream: ProtectedUpstream
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def token(self, giru: RunningGiru, login: str, path: str = "/mcp") -> str:
        """`login`'s access token to `giru` (`/mcp` for MCP, `/api` for the API)."""
        resource = giru.url(path)
        if (resource, login) not in self.tokens:
            self.tokens[resource, login] = self.idp.tokens(login, resource=resource).access_token
        return self.tokens[resource, login]

    def connect(self, giru: RunningGiru, login: str | None) -> None:
        """`login` (None: an admin, for the shared connection) connects `files` through
        `giru`'s API and the browser."""
        headers = (
            ADMIN_HEADERS
            if login is None
            else {"Authorization": f"Bearer {self.token(giru, login, '/api')}"}
        )
        answers: list[httpx.Response] = []

        def started_here() -> bool:
            # an apply reaches the worker's running config a moment after it answers (the
            # reload runs after the commit): until then the worker knows no `files` (404)
            url = giru.url("/api/v1/servers/files/connections")
            answers.append(httpx.post(url, headers=headers, timeout=30))
            return answers[-1].status_code != 404

        wait_until(started_here, "the worker has loaded the applied MCPServer files")
        started = answers[-1]
        assert started.status_code == 201, started.text
        with httpx.Client(timeout=30) as browser:
            callback = giru.url("/oauth/callback")
            url = started.json()["authorizationUrl"]
            landed = self.idp.sign_in_at(browser, url, login or "alice", stop_at=callback)
            page = browser.get(landed)
            assert page.status_code == 200, page.text

    def call(self, giru: RunningGiru, login: str) -> dict[str, Any]:
        """`login` calls `files__whoami` through `giru` (2026-07-28): the JSON-RPC result."""
        params = {"name": "files__whoami", "arguments": {}}
        response = mcp(giru, "tools/call", params, token=self.token(giru, login))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["result"]
        return result


@pytest.fixture
def workers(
    request: pytest.FixtureRequest, postgres_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Workers]:
    """`request.param` (indirect): how long the IdP takes to answer a refresh, in ms."""
    delay_ms = int(getattr(request, "param", REFRESH_DELAY_MS))
    shared = {
        "GIRU_DATABASE_URL": postgres_url,
        "GIRU_REDIS_URL": redis_url,
        "GIRU_KEY_PEPPER": "connection-workers-pepper-01234567",
        "GIRU_SECRETS__KEY": SHARED_KEK,
        "GIRU_POLICY__ENABLED": "false",
        # each worker pings the upstream every second with the connection's token: once it is
        # due, both workers need the refresh within the IdP's second even before the calls do
        "GIRU_CATALOG__HEALTH_INTERVAL_S": "1",
    }
    with ExitStack() as stack:
        running = []
        for name in ("w1", "w2"):
            workdir = tmp_path / name
            workdir.mkdir()
            env = {**shared, "GIRU_WORKER_NAME": name}
            manifests = CLIENT if name == "w1" else None
            running.append(stack.enter_context(run_giru(manifests, workdir, extra_env=env)))
        a, b = running
        idp_dir = tmp_path / "idp"
        idp_dir.mkdir()
        idp = start_identity_provider(
            idp_dir,
            {},
            redirect_uris=[a.url("/oauth/callback"), b.url("/oauth/callback")],
            token_delays_ms={"refresh_token": delay_ms},
        )
        stack.callback(idp.peer.stop)
        upstream = stack.enter_context(protected_upstream(tmp_path, idp.issuer))
        idp.add_resource(upstream.url, scope="mcp", ttl=300)
        for giru in (a, b):
            for path in ("/mcp", "/api"):
                idp.add_resource(giru.url(path), scope="mcp")
        put_secret(a, "upstream-oauth", idp.client_secret)
        yield Workers(a, b, idp, upstream)


def _expires_at(giru: RunningGiru) -> float:
    listed = httpx.get(
        giru.url("/api/v1/servers/files/connections"), headers=ADMIN_HEADERS, timeout=30
    )
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    return float(item["expiresAt"])


def _lists(mcp: Mcp, tool: str) -> Callable[[], bool]:
    return lambda: tool in mcp.tools()


def _refreshes(giru: RunningGiru) -> list[str]:
    return [str(record["outcome"]) for record in audit_records(giru, "connections/refresh")]


@pytest.mark.timeout(300)  # two workers, the IdP, PostgreSQL and Redis on a loaded machine
def test_fifty_calls_on_two_workers_refresh_a_two_second_token_with_one_token_request(
    workers: Workers,
) -> None:
    a, b, idp = workers.a, workers.b, workers.idp
    apply(a, oauth_server("files", workers.upstream.url, connection="shared"))
    workers.connect(a, None)
    sessions = [Mcp(a).open(), Mcp(b).open()]
    for session in sessions:
        wait_until(_lists(session, "files__whoami"), "files is listed on both workers")
    before, audited = idp.token_requests("refresh_token"), len(_refreshes(a))

    # Both workers have listed with a long-lived token; now the connection gets one that
    # expires 2 s after it is issued (the other worker is told to drop the one it holds),
    # and the refreshed one lives on.
    idp.add_resource(workers.upstream.url, scope="mcp", ttl=2)
    workers.connect(a, None)
    idp.add_resource(workers.upstream.url, scope="mcp", ttl=300)
    expires_at = _expires_at(a)
    assert expires_at < time.time() + 3
    wait_until(lambda: time.time() > expires_at, "the connection's 2-second token has expired")

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda i: sessions[i % 2].text("files__whoami"), range(50)))

    assert len(answers) == 50
    assert all(answer is not None and answer.startswith("sub=") for answer in answers), answers
    assert idp.token_requests("refresh_token") - before == 1
    wait_until(lambda: len(_refreshes(a)) > audited, "the refresh is audited")
    refreshes = _refreshes(a)
    assert refreshes[: len(refreshes) - audited] == ["allowed"]


@pytest.mark.timeout(300)
def test_a_reconnect_or_disconnect_on_one_worker_reaches_the_other_workers_next_call(
    workers: Workers,
) -> None:
    a, b, upstream = workers.a, workers.b, workers.upstream
    apply(a, connection_manifests(workers.idp, upstream, "perUser"))
    workers.connect(a, "alice")
    bob = workers.token(b, "bob")
    wait_until(lambda: "files__whoami" in _tools(b, bob), "files is listed on the second worker")
    assert workers.call(b, "alice")["content"][0]["text"].startswith("sub=sub-alice ")
    first = upstream.authorizations("whoami")[-1]

    workers.connect(a, "alice")  # a new connection: new tokens, kept through worker a
    assert workers.call(b, "alice")["content"][0]["text"].startswith("sub=sub-alice ")
    second = upstream.authorizations("whoami")[-1]
    assert second != first
    assert workers.call(a, "alice")["content"][0]["text"].startswith("sub=sub-alice ")
    assert upstream.authorizations("whoami")[-1] == second

    alice_api = {"Authorization": f"Bearer {workers.token(a, 'alice', '/api')}"}
    gone = httpx.delete(a.url("/api/v1/servers/files/connections"), headers=alice_api, timeout=30)
    assert gone.status_code == 204, gone.text
    calls = len(upstream.authorizations("whoami"))
    asked = workers.call(b, "alice")
    assert asked["resultType"] == "input_required", asked
    elicitation = asked["inputRequests"]["connect"]["params"]
    assert elicitation["mode"] == "url"
    assert elicitation["url"].startswith(b.url("/oauth/connect?state="))
    assert len(upstream.authorizations("whoami")) == calls


@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers", [SLOW_REFRESH_MS], indirect=True)
def test_a_disconnect_during_a_refresh_on_another_worker_leaves_the_connection_removed(
    workers: Workers,
) -> None:
    a, b, idp, upstream = workers.a, workers.b, workers.idp, workers.upstream
    apply(a, connection_manifests(idp, upstream, "perUser"))
    idp.add_resource(upstream.url, scope="mcp", ttl=2)
    before = idp.token_requests("refresh_token")
    workers.connect(a, "alice")  # a token that expires 2 s after it is issued
    idp.add_resource(upstream.url, scope="mcp", ttl=300)
    expires_at = _expires_at(a)
    # (the health pings may start the refresh too, on either worker, once the token is due)
    wait_until(lambda: time.time() > expires_at, "alice's 2-second token has expired")
    calls = len(upstream.authorizations("whoami"))

    alice_api = {"Authorization": f"Bearer {workers.token(a, 'alice', '/api')}"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(workers.call, b, "alice")
        wait_until(
            lambda: idp.token_requests("refresh_token") > before,
            "the refresh is under way (the IdP answered it and waits before sending it)",
        )
        gone = httpx.delete(
            a.url("/api/v1/servers/files/connections"), headers=alice_api, timeout=30
        )
        assert gone.status_code == 204, gone.text
        asked = in_flight.result(timeout=60)

    assert asked["resultType"] == "input_required", asked
    listed = httpx.get(
        a.url("/api/v1/servers/files/connections"), headers=ADMIN_HEADERS, timeout=30
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []
    for giru in (a, b):
        again = workers.call(giru, "alice")
        assert again["resultType"] == "input_required", again
        elicitation = again["inputRequests"]["connect"]["params"]
        assert elicitation["url"].startswith(giru.url("/oauth/connect?state="))
    assert len(upstream.authorizations("whoami")) == calls


def _tools(giru: RunningGiru, token: str) -> set[str]:
    body = mcp(giru, "tools/list", token=token).json()
    return {tool["name"] for tool in body.get("result", {}).get("tools", [])}
