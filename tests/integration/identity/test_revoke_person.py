"""`giru users revoke EMAIL` against the real IdP and two real workers sharing one store and a
real Redis: a person's tokens, already verified and cached, stop working at once on the worker
that took the revocation and on the other as soon as the change reaches it; their refresh token
is refused; signing in again works. Also `giru users list`, and the API's refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from giru.cli.main import app
from tests.integration.gateway import python_stdio_server, wait_until
from tests.integration.identity.broker import (
    ADMIN_TOKEN,
    BrokeredGiru,
    another_worker,
    brokered_giru,
)
from tests.integration.oauth import MODERN, subscription
from tests.services import RedisServer

pytestmark = pytest.mark.integration

_MANIFESTS = "\n---\n".join(
    [python_stdio_server("clinic"), subscription("nurses-clinic", "{group: nurses}", "clinic")]
)
_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}
_ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
_ALICE = "alice@hospital.example"
_NO_POLL = 3600.0  # changes reach the other worker over the change bus, not the store poll


@dataclass
class Workers:
    giru: BrokeredGiru
    """The first worker: its authorization server, its API."""
    other: str
    """The second worker's base URL."""


@pytest.fixture(scope="module")
def workers(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Workers]:
    workdir = tmp_path_factory.mktemp("revoke")
    redis_server.start()
    redis_url = redis_server.url(db=5)  # the change bus is pub/sub: the same on every db
    with (
        brokered_giru(workdir, _MANIFESTS, redis_url=redis_url, store_poll_s=_NO_POLL) as giru,
        another_worker(giru, redis_url, store_poll_s=_NO_POLL) as other,
    ):
        for base in (giru.issuer, other):
            synced = httpx.post(f"{base}/api/v1/servers/clinic/sync", headers=_ADMIN, timeout=30)
            assert synced.status_code == 200, synced.text
        yield Workers(giru, other)


def _list_tools(base: str, token: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": _META}}
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/list",
        "authorization": f"Bearer {token}",
    }
    return httpx.post(f"{base}/mcp", json=body, headers=headers, timeout=30)


def _signed_in(giru: BrokeredGiru, login: str) -> tuple[str, dict[str, Any]]:
    client = giru.register(grant_types=["authorization_code", "refresh_token"])
    with httpx.Client() as http:
        authorization = giru.authorize(http, client["client_id"], login)
    response = giru.redeem(client["client_id"], authorization)
    assert response.status_code == 200, response.text
    return client["client_id"], response.json()


def _revoke(giru: BrokeredGiru, email: str, token: str = ADMIN_TOKEN) -> httpx.Response:
    return httpx.post(
        giru.url(f"/api/v1/users/{email}/revoke"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_revoked_person_is_refused_at_once_on_every_worker_and_may_sign_in_again(
    workers: Workers,
) -> None:
    giru = workers.giru
    client_id, tokens = _signed_in(giru, "alice")
    access = tokens["access_token"]
    for base in (giru.issuer, workers.other):  # verified, and now in each worker's cache
        assert _list_tools(base, access).status_code == 200

    revoked = _revoke(giru, _ALICE)

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["email"] == _ALICE
    assert revoked.json()["refreshFamiliesRevoked"] == 1
    refused = _list_tools(giru.issuer, access)  # the very next call, on the same worker
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert "revoked by an administrator" in challenge
    wait_until(  # the other worker hears of it over Redis (its store poll is an hour away)
        lambda: _list_tools(workers.other, access).status_code == 401,
        "the other worker refusing the revoked token",
    )
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": client_id,
    }
    refreshed = giru.token(form)
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"

    _, again = _signed_in(giru, "alice")
    for base in (giru.issuer, workers.other):
        assert _list_tools(base, again["access_token"]).status_code == 200

    records = giru.wait_for_audit("oauth/person_revoked", target=_ALICE)
    assert records[0]["actor"] == "bootstrap"
    assert records[0]["details"]["refreshFamilies"] == 1
    secrets = (access, tokens["refresh_token"], again["access_token"])
    trails = str(records) + giru.log_text()
    assert not any(secret in trails for secret in secrets)
    changes = httpx.get(giru.url("/api/v1/changes"), params={"kind": "Person"}, headers=_ADMIN)
    assert [(c["actor"], c["action"], c["name"]) for c in changes.json()["items"]] == [
        ("bootstrap", "revoke", _ALICE)
    ]


def test_users_are_listed_and_revoked_with_the_cli(workers: Workers) -> None:
    giru = workers.giru
    _signed_in(giru, "bob")
    runner = CliRunner(
        env={
            "GIRU_API_URL": giru.issuer,
            "GIRU_TOKEN": ADMIN_TOKEN,
            "XDG_CONFIG_HOME": "/nonexistent",
        }
    )
    listed = runner.invoke(app, ["users", "list", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    people = {item["email"]: item for item in json.loads(listed.output)["items"]}
    assert people["bob@hospital.example"]["activeRefreshFamilies"] >= 1
    assert people["bob@hospital.example"]["revokedAt"] is None

    revoked = runner.invoke(app, ["users", "revoke", "bob@hospital.example"])

    assert revoked.exit_code == 0, revoked.output
    assert "user/bob@hospital.example revoked" in revoked.output
    table = runner.invoke(app, ["users", "list"])
    assert table.exit_code == 0, table.output
    assert any(
        line.startswith("bob@hospital.example") and "0/" in line
        for line in table.output.splitlines()
    )


@pytest.mark.parametrize(
    ("email", "status", "code"),
    [
        ("nobody@hospital.example", 404, "not_found"),
        ("not-an-email", 422, "validation_failed"),
        ("two@@signs.example", 422, "validation_failed"),
    ],
)
def test_revoking_an_unknown_or_malformed_email_is_refused_clearly(
    workers: Workers, email: str, status: int, code: str
) -> None:
    response = _revoke(workers.giru, email)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_only_an_admin_may_revoke_and_a_viewer_may_list(workers: Workers) -> None:
    giru = workers.giru
    created = httpx.post(
        giru.url("/api/v1/admin-keys"), json={"name": "reader", "role": "viewer"}, headers=_ADMIN
    )
    assert created.status_code == 201, created.text
    viewer = created.json()["apiKey"]
    listed = httpx.get(giru.url("/api/v1/users"), headers={"Authorization": f"Bearer {viewer}"})
    assert listed.status_code == 200
    refused = _revoke(giru, _ALICE, token=viewer)
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert _revoke(giru, _ALICE, token="giru_wrong").status_code == 401
