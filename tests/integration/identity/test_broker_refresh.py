"""A refresh at Giru refreshes at the real IdP first: a person moved to another group sees the
new set of tools after refresh, and a person the IdP no longer knows loses access."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from giru.identity.broker.sealing import Sealer
from tests.integration.gateway import python_stdio_server, wait_until
from tests.integration.identity.broker import ADMIN_TOKEN, BrokeredGiru, brokered_giru
from tests.integration.oauth import MODERN, subscription

pytestmark = pytest.mark.integration

_MANIFESTS = "\n---\n".join(
    [
        python_stdio_server("clinic"),
        python_stdio_server("pharmacy"),
        subscription("nurses-clinic", "{group: nurses}", "clinic"),
        subscription("pharmacists-pharmacy", "{group: pharmacists}", "pharmacy"),
    ]
)
_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    with brokered_giru(tmp_path_factory.mktemp("refresh"), _MANIFESTS) as running:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for server in ("clinic", "pharmacy"):  # both catalogs fetched before the first list
            url = running.url(f"/api/v1/servers/{server}/sync")
            synced = httpx.post(url, headers=admin, timeout=30)
            assert synced.status_code == 200, synced.text
        yield running


def list_tools(giru: BrokeredGiru, token: str) -> httpx.Response:
    """tools/list through `/mcp` with `token` (2026-07-28 era: no session to set up)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": _META}}
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/list",
        "authorization": f"Bearer {token}",
    }
    return httpx.post(giru.mcp, json=body, headers=headers, timeout=30)


def tool_names(giru: BrokeredGiru, token: str) -> set[str]:
    listed = list_tools(giru, token)
    assert listed.status_code == 200, listed.text
    return {tool["name"] for tool in listed.json()["result"]["tools"]}


def _signed_in(giru: BrokeredGiru, login: str) -> tuple[str, dict[str, Any]]:
    client = giru.register(grant_types=["authorization_code", "refresh_token"])
    with httpx.Client() as http:
        authorization = giru.authorize(http, client["client_id"], login)
    response = giru.redeem(client["client_id"], authorization)
    assert response.status_code == 200, response.text
    return client["client_id"], response.json()


def _refresh(giru: BrokeredGiru, client_id: str, refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return giru.token(form)


def test_a_person_moved_to_another_group_sees_the_new_tools_after_refresh(
    giru: BrokeredGiru,
) -> None:
    client_id, tokens = _signed_in(giru, "alice")
    first = tool_names(giru, tokens["access_token"])
    assert "clinic__echo" in first
    assert not any(name.startswith("pharmacy__") for name in first)

    giru.idp.set_groups("alice", ["pharmacists"])
    refreshed = _refresh(giru, client_id, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    after = tool_names(giru, refreshed.json()["access_token"])
    assert "pharmacy__echo" in after
    assert not any(name.startswith("clinic__") for name in after)
    wait_until(
        lambda: any(
            r["details"]["grant_type"] == "refresh_token"
            for r in giru.audit(action="oauth/token", actor="alice@hospital.example")
        ),
        "the refresh audited",
    )


def test_a_refresh_the_idp_refuses_revokes_the_family_and_is_audited(giru: BrokeredGiru) -> None:
    client_id, tokens = _signed_in(giru, "carol")
    giru.idp.close_account("carol")
    refused = _refresh(giru, client_id, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    records = giru.wait_for_audit("oauth/refresh_refused", actor="carol@hospital.example")
    assert records[0]["outcome"] == "forbidden"
    assert tokens["refresh_token"] not in str(records)


def test_the_idp_refresh_token_is_stored_only_sealed(giru: BrokeredGiru) -> None:
    _signed_in(giru, "bob")
    database = giru.workdir / "giru.db"
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT sealed_idp_refresh_token FROM oauth_refresh_families"
        ).fetchall()
    assert rows
    assert all(sealed is not None for (sealed,) in rows)
    key = bytes.fromhex((giru.workdir / "giru.identity-key").read_text())
    sealer = Sealer(key).derive("giru identity idp refresh tokens")
    content = database.read_bytes()
    for (sealed,) in rows:
        token = sealer.open(sealed, b"giru idp refresh token")
        assert token
        assert token not in content
