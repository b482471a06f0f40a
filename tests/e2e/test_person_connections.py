"""A person's own connection to an OAuth-protected MCP server, made in a real browser.

The test IdP (oidc-provider) is both the people's IdP in front of Giru and the authorization
server of a protected MCP server the test starts (`servers/protected_http.py`, its connections
`perUser`). Alice, signed in to Giru over OAuth, is asked to connect by her tool call; the
connect URL is opened in Debian's Chromium through playwright-core (web/e2e/ui.mjs, scenario
`idp-connect`), where she signs in at the IdP's form and lands on Giru's callback page.
Until someone connects, a `perUser` server lists no tools (docs/credentials.md): carol connects
first, through the API and a headless browser, so the server's tools are listed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.credentials.calls import apply
from tests.integration.credentials.connections import ConnectedGiru, connected_giru
from tests.integration.gateway import wait_until
from tests.integration.oauth import mcp, subscription
from tests.web import CHROMIUM, WEB, require_web, run_node

pytestmark = pytest.mark.integration


def _in_chromium(env: ConnectedGiru, url: str, login: str) -> dict[str, Any]:
    """`login` opens `url` in Chromium and signs in at the IdP: what the pages showed."""
    result = run_node(
        ["e2e/ui.mjs", "idp-connect"],
        timeout=120.0,
        env={
            "GIRU_URL": env.giru.base,
            "GIRU_CONNECT_URL": url,
            "GIRU_LOGIN": login,
            "GIRU_PASSWORD": env.idp.users[login].password,
        },
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(seen, dict)
    return seen


def _asked_to_connect(env: ConnectedGiru, answer: dict[str, Any]) -> dict[str, Any]:
    """The URL elicitation of a call refused for want of a connection (2026-07-28)."""
    result: dict[str, Any] = answer["result"]
    assert result["resultType"] == "input_required", answer
    elicitation = result["inputRequests"]["connect"]
    assert elicitation["method"] == "elicitation/create", answer
    assert elicitation["params"]["mode"] == "url", answer
    assert elicitation["params"]["url"].startswith(env.giru.url("/oauth/connect?state=")), answer
    return result


def _tools(env: ConnectedGiru, token: str) -> set[str]:
    body = mcp(env.giru, "tools/list", token=token).json()
    return {tool["name"] for tool in body.get("result", {}).get("tools", [])}


def _claims(authorization: str) -> dict[str, Any]:
    payload = authorization.removeprefix("Bearer ").split(".")[1]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(decoded, dict)
    return decoded


def test_a_person_asked_to_connect_signs_in_at_the_idp_in_chromium_and_the_retry_uses_her_token(
    tmp_path: Path,
) -> None:
    require_web(CHROMIUM, WEB / "node_modules" / "playwright-core")
    with connected_giru(tmp_path) as env:
        apply(env.giru, subscription("carol-files", "{user: carol@hospital.example}", "files"))
        assert env.connect("carol").status_code == 200
        alice, bob = env.token("alice"), env.token("bob")
        wait_until(lambda: "files__whoami" in _tools(env, alice), "the server's tools are listed")
        asked = _asked_to_connect(env, env.call(alice))
        url = asked["inputRequests"]["connect"]["params"]["url"]
        assert env.upstream.authorizations("whoami") == []

        seen = _in_chromium(env, url, "alice")
        assert seen["signIn"]["url"].startswith(f"{env.idp.issuer}/interaction/"), seen
        assert seen["landed"].startswith(env.callback), seen
        assert (seen["heading"], seen["role"]) == ("Connected", "status"), seen
        assert "files is connected for alice@hospital.example" in seen["text"], seen

        retried = env.call(
            alice,
            requestState=asked["requestState"],
            inputResponses={"connect": {"action": "accept"}},
        )
        text = retried["result"]["content"][0]["text"]
        assert text == f"sub=sub-alice aud={env.upstream.url}", retried
        (sent,) = env.upstream.authorizations("whoami")
        assert sent.startswith("Bearer ")
        assert sent != f"Bearer {alice}"
        claims = _claims(sent)  # alice's own upstream token, not carol's (who connected first)
        assert (claims["sub"], claims["aud"]) == ("sub-alice", env.upstream.url), claims
        assert claims["iss"] == env.idp.issuer, claims

        still = _asked_to_connect(env, env.call(bob))
        assert still["inputRequests"]["connect"]["params"]["url"] != url
        assert env.upstream.authorizations("whoami") == [sent]
        seen_headers = json.dumps(env.upstream.seen())
        assert alice not in seen_headers
        assert bob not in seen_headers
