"""OAuth connections to an upstream end to end: the real test IdP (oidc-provider) is both the
people's IdP in front of Giru and the authorization server of a protected MCP server; people
connect in a headless browser (redirects followed, the IdP's sign-in form posted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.credentials.connections import ConnectedGiru, connected_giru
from tests.integration.gateway import wait_until
from tests.integration.oauth import mcp

pytestmark = pytest.mark.integration


def _tools(env: ConnectedGiru, token: str) -> set[str]:
    body = mcp(env.giru, "tools/list", token=token).json()
    return {tool["name"] for tool in body.get("result", {}).get("tools", [])}


def test_each_person_calls_with_their_own_connection_and_one_without_is_asked_to_connect(
    tmp_path: Path,
) -> None:
    with connected_giru(tmp_path) as env:
        page = env.connect("alice")
        assert page.status_code == 200, page.text
        assert "Connected" in page.text
        alice = env.token("alice")
        wait_until(lambda: "files__whoami" in _tools(env, alice), "the server's tools are listed")

        answer = env.call(alice)
        assert answer["result"]["content"][0]["text"] == f"sub=sub-alice aud={env.upstream.url}"

        bob = env.token("bob")
        asked = env.call(bob)["result"]
        assert asked["resultType"] == "input_required"
        elicitation = asked["inputRequests"]["connect"]
        assert elicitation["method"] == "elicitation/create"
        url = elicitation["params"]["url"]
        assert elicitation["params"]["mode"] == "url"
        assert url.startswith(env.giru.url("/oauth/connect?state="))

        page = env.browse(url, "bob")
        assert page.status_code == 200, page.text
        retried = env.call(
            bob,
            requestState=asked["requestState"],
            inputResponses={"connect": {"action": "accept"}},
        )
        assert retried["result"]["content"][0]["text"] == f"sub=sub-bob aud={env.upstream.url}"
        assert env.call(alice)["result"]["content"][0]["text"].startswith("sub=sub-alice ")

        seen = [value for headers in env.upstream.seen() for value in headers.values()]
        assert seen
        assert not [value for value in seen if alice in value or bob in value]


def test_connections_are_listed_without_tokens_and_a_disconnect_asks_again(
    tmp_path: Path,
) -> None:
    with connected_giru(tmp_path) as env:
        assert env.connect("alice").status_code == 200
        listed = env.api("GET", "/api/v1/servers/files/connections", "alice")
        assert listed.status_code == 200, listed.text
        (item,) = listed.json()["items"]
        assert item["who"] == "alice@hospital.example"
        assert item["status"] == "connected"
        assert "mcp" in item["scopes"]
        assert "token" not in listed.text.lower().replace("refreshable", "")
        alice = env.token("alice")
        wait_until(lambda: "files__whoami" in _tools(env, alice), "the server's tools are listed")
        assert "result" in env.call(alice)

        gone = env.api("DELETE", "/api/v1/servers/files/connections", "alice")
        assert gone.status_code == 204, gone.text
        assert env.api("GET", "/api/v1/servers/files/connections", "alice").json() == {"items": []}
        assert env.call(alice)["result"]["resultType"] == "input_required"
