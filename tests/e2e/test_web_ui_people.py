"""The web console's People pages in Debian's Chromium (web/e2e/ui.mjs, scenario `people`):
alice signs in at the real oidc-provider through Giru's authorization server
(tests/integration/identity/broker.py) and calls a tool her group `nurses` is subscribed to; an
admin finds her on the People page with her groups, her detail shows that subscription and that
call, and the admin's "Revoke grants" makes her next MCP call with the same token refused. The
run writes the People screenshots to docs/ui/ (the quickstart has no IdP, so no people)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.integration.gateway import python_stdio_server
from tests.integration.identity.broker import ADMIN_TOKEN, BrokeredGiru, brokered_giru
from tests.integration.oauth import MODERN, subscription
from tests.web import CHROMIUM, WEB, require_web, run_node

pytestmark = pytest.mark.integration

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"
ALICE = "alice@hospital.example"
_MANIFESTS = "\n---\n".join(
    [python_stdio_server("clinic"), subscription("nurses-clinic", "{group: nurses}", "clinic")]
)


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    require_web(CHROMIUM, WEB / "node_modules" / "playwright-core")
    workdir = tmp_path_factory.mktemp("ui-people")
    with brokered_giru(workdir, _MANIFESTS) as running:
        synced = httpx.post(
            running.url("/api/v1/servers/clinic/sync"),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        assert synced.status_code == 200, synced.text
        yield running


def _access_token(giru: BrokeredGiru, login: str) -> str:
    """`login` signs in at the IdP through Giru (an MCP client's authorization code flow)."""
    client = giru.register(grant_types=["authorization_code", "refresh_token"])
    with httpx.Client() as http:
        authorization = giru.authorize(http, client["client_id"], login)
    response = giru.redeem(client["client_id"], authorization)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


def _echo(giru: BrokeredGiru, token: str) -> httpx.Response:
    """One 2026-07-28 `tools/call` of `clinic__echo` on /mcp with `token`."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": "clinic__echo", "arguments": {"text": "hello"}, "_meta": meta}
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "clinic__echo",
        "authorization": f"Bearer {token}",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    return httpx.post(giru.mcp, json=body, headers=headers, timeout=30)


def _in_chromium(giru: BrokeredGiru, **env: str) -> dict[str, Any]:
    result = run_node(
        ["e2e/ui.mjs", "people"],
        timeout=240.0,
        env={"GIRU_URL": giru.issuer, "GIRU_ADMIN_TOKEN": ADMIN_TOKEN, **env},
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(seen, dict)
    return seen


def test_an_admin_sees_a_signed_in_person_and_revoking_their_grants_refuses_their_token(
    giru: BrokeredGiru,
) -> None:
    token = _access_token(giru, "alice")
    called = _echo(giru, token)
    assert called.status_code == 200, called.text
    assert "hello" in called.text, called.text
    giru.wait_for_audit("tools/call", actor=f"user:{ALICE}")  # drained from the audit spool
    SHOTS.mkdir(parents=True, exist_ok=True)

    seen = _in_chromium(giru, GIRU_PERSON=ALICE, GIRU_SHOTS=str(SHOTS))

    nav = seen["nav"]
    assert nav[nav.index("Clients") + 1] == "People", seen
    assert seen["listed"][:2] == [ALICE, "nurses"], seen
    assert unquote(seen["detailUrl"]) == f"/ui/people/person?email={ALICE}", seen
    assert seen["groups"] == "nurses", seen
    assert seen["subscriptions"] == [["nurses-clinic", "clinic", "group nurses", "active"]], seen
    call = next(row for row in seen["calls"] if row[1] == "tools/call")
    assert call[2].startswith("clinic · "), seen
    assert call[2].endswith("echo"), seen
    assert call[3] == "allowed", seen
    assert "they must sign in again" in seen["warning"], seen
    assert "refused at once" in seen["warning"], seen
    assert seen["notice"].startswith(f"Revoked {ALICE}'s grants: 1 sign-in(s) ended"), seen
    assert seen["revoked"].endswith("(not signed in since)"), seen
    assert len(seen["written"]) == 8, seen
    assert all(Path(file).stat().st_size > 0 for file in seen["written"]), seen

    refused = _echo(giru, token)  # the very token that worked before the revocation
    assert refused.status_code == 401, refused.text
    assert "revoked by an administrator" in refused.headers["www-authenticate"]
