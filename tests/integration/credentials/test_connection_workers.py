"""Two `giru run` workers sharing PostgreSQL and Redis, one server with a `shared` OAuth
connection whose access token expires 2 s after it was issued (the test IdP is its
authorization server): fifty concurrent calls spread over both workers once it has expired are
served after exactly one refresh (the workers take the Redis token lock in turn; the second
reads the tokens the first kept)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.idp import IdentityProviderPeer, start_identity_provider
from tests.integration.credentials.calls import ADMIN_HEADERS, Mcp, apply, put_secret
from tests.integration.credentials.connections import (
    ProtectedUpstream,
    audit_records,
    oauth_server,
    protected_upstream,
)
from tests.integration.gateway import CLIENT, RunningGiru, run_giru, wait_until

pytestmark = pytest.mark.integration

SHARED_KEK = bytes(range(32)).hex()


@dataclass
class Workers:
    a: RunningGiru
    b: RunningGiru
    idp: IdentityProviderPeer
    upstream: ProtectedUpstream


@pytest.fixture
def workers(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Workers]:
    shared = {
        "GIRU_DATABASE_URL": postgres_url,
        "GIRU_REDIS_URL": redis_url,
        "GIRU_KEY_PEPPER": "connection-workers-pepper-01234567",
        "GIRU_SECRETS__KEY": SHARED_KEK,
        "GIRU_POLICY__ENABLED": "false",
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
        idp = start_identity_provider(idp_dir, {}, redirect_uris=[a.url("/oauth/callback")])
        stack.callback(idp.peer.stop)
        upstream = stack.enter_context(protected_upstream(tmp_path, idp.issuer))
        yield Workers(a, b, idp, upstream)


def _connection(giru: RunningGiru) -> dict[str, float]:
    listed = httpx.get(
        giru.url("/api/v1/servers/files/connections"), headers=ADMIN_HEADERS, timeout=30
    )
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    return {"expiresAt": float(item["expiresAt"])}


def _lists(mcp: Mcp, tool: str) -> Callable[[], bool]:
    return lambda: tool in mcp.tools()


def _refreshes(giru: RunningGiru) -> list[str]:
    return [str(record["outcome"]) for record in audit_records(giru, "connections/refresh")]


@pytest.mark.timeout(300)  # two workers, the IdP, PostgreSQL and Redis on a loaded machine
def test_fifty_calls_on_two_workers_refresh_an_expired_connection_once(
    workers: Workers,
) -> None:
    a, b, idp, upstream = workers.a, workers.b, workers.idp, workers.upstream
    idp.add_resource(upstream.url, scope="mcp", ttl=2)
    put_secret(a, "upstream-oauth", idp.client_secret)
    apply(a, oauth_server("files", upstream.url, connection="shared"))
    started = httpx.post(
        a.url("/api/v1/servers/files/connections"), headers=ADMIN_HEADERS, timeout=30
    )
    assert started.status_code == 201, started.text
    with httpx.Client(timeout=30) as browser:
        callback = a.url("/oauth/callback")
        landed = idp.sign_in_at(
            browser, started.json()["authorizationUrl"], "alice", stop_at=callback
        )
        assert browser.get(landed).status_code == 200
    sessions = [Mcp(a).open(), Mcp(b).open()]
    for mcp in sessions:
        wait_until(_lists(mcp, "files__whoami"), "files is listed on both workers")
    idp.add_resource(upstream.url, scope="mcp", ttl=300)  # the refreshed token lives on
    wait_until(
        lambda: _connection(a)["expiresAt"] < time.time(),
        "the connection's 2-second token has expired",
    )
    before = _refreshes(a)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda i: sessions[i % 2].text("files__whoami"), range(50)))

    assert all(answer is not None and answer.startswith("sub=") for answer in answers), answers
    new = _refreshes(a)[: len(_refreshes(a)) - len(before)]
    assert new == ["allowed"], new
