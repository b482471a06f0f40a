"""OAuth connections to an upstream end to end: the real test IdP (oidc-provider) is both the
people's IdP in front of Giru and the authorization server of a protected MCP server; people
connect in a headless browser (redirects followed, the IdP's sign-in form posted)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.credentials.connections import (
    ConnectedGiru,
    audit_records,
    connected_giru,
    legacy_call,
)
from tests.integration.gateway import GIRU, KEY, wait_until
from tests.integration.oauth import mcp
from tests.services import VaultServer

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


def test_an_api_key_caller_never_gets_a_persons_connection(tmp_path: Path) -> None:
    with connected_giru(tmp_path) as env:
        assert env.connect("alice").status_code == 200
        alice = env.token("alice")
        wait_until(lambda: "files__whoami" in _tools(env, alice), "the server's tools are listed")
        params = {"name": "files__whoami", "arguments": {}}
        response = mcp(env.giru, "tools/call", params, token=KEY)
        assert response.status_code == 200, response.text
        error = response.json()["error"]
        assert error["data"]["reason"] == "connection_required"
        assert "sign in to Giru over OAuth" in error["message"]
        assert KEY not in json.dumps(env.upstream.seen())


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


def test_a_legacy_client_gets_the_url_elicitation_error_or_a_tool_error_with_the_url(
    tmp_path: Path,
) -> None:
    with connected_giru(tmp_path) as env:
        assert env.connect("alice").status_code == 200
        alice = env.token("alice")
        wait_until(lambda: "files__whoami" in _tools(env, alice), "the server's tools are listed")
        bob = env.token("bob")

        error = legacy_call(env, bob, {"elicitation": {"form": {}, "url": {}}})["error"]
        assert error["code"] == -32042
        (elicitation,) = error["data"]["elicitations"]
        assert elicitation["mode"] == "url"
        assert elicitation["url"].startswith(env.giru.url("/oauth/connect?state="))
        assert elicitation["elicitationId"]

        plain = legacy_call(env, bob, {})["result"]
        assert plain["isError"] is True
        text = plain["content"][0]["text"]
        assert env.giru.url("/oauth/connect?state=") in text

        assert env.browse(elicitation["url"], "bob").status_code == 200
        after = legacy_call(env, bob, {"elicitation": {"url": {}}})["result"]
        assert after["content"][0]["text"].startswith("sub=sub-bob ")


def test_giru_connect_waits_for_the_browser_and_giru_connections_lists_it(
    tmp_path: Path,
) -> None:
    with connected_giru(tmp_path) as env:
        cli_env = {
            **os.environ,
            "GIRU_API_URL": env.giru.url(""),
            "GIRU_TOKEN": env.token("alice", "/api"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        command = [str(GIRU), "connect", "files", "--no-browser", "--timeout", "60"]
        process = subprocess.Popen(
            command, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stderr is not None
            assert "open this URL" in process.stderr.readline()
            url = process.stderr.readline().strip()
            assert env.browse(url, "alice").status_code == 200
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()
            process.wait()
        assert process.returncode == 0, err
        assert out.startswith("connected files as alice@hospital.example")

        listed = subprocess.run(
            [str(GIRU), "connections", "files", "-o", "json"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        (item,) = json.loads(listed.stdout)["items"]
        assert item["who"] == "alice@hospital.example"
        assert item["status"] == "connected"


def _secret_changes(env: ConnectedGiru) -> list[str]:
    listed = env.api("GET", "/api/v1/changes?kind=Secret", None)
    assert listed.status_code == 200, listed.text
    return [str(change["name"]) for change in listed.json()["items"]]


def test_a_short_lived_token_is_refreshed_without_a_reload_and_a_refused_refresh_asks_to_reconnect(
    tmp_path: Path,
) -> None:
    with connected_giru(tmp_path, upstream_ttl=2) as env:
        assert env.connect("alice").status_code == 200
        alice = env.token("alice")
        wait_until(lambda: "files__whoami" in _tools(env, alice), "the server's tools are listed")

        def refreshed(times: int) -> Callable[[], bool]:
            def check() -> bool:
                text = env.call(alice)["result"]["content"][0]["text"]
                assert text.startswith("sub=sub-alice ")
                records = audit_records(env, "connections/refresh")
                allowed = [r for r in records if r["outcome"] == "allowed"]
                return len(allowed) >= times

            return check

        wait_until(refreshed(1), "a call after expiry refreshed the token", timeout=30)
        (item,) = env.api("GET", "/api/v1/servers/files/connections", "alice").json()["items"]
        assert item["refreshedAt"] is not None
        assert item["status"] == "connected"
        # Tokens are runtime state: neither the connect nor a refresh is a configuration
        # change (no change record, no new revision), so no worker reloads (nor announces
        # tools/list_changed) for them. Each used to record a Secret change and bump the
        # revision. (Counting reloads in the log is not the test: a person's first sign-in
        # is a store write of its own, which a worker may pick up at its next poll.)
        wait_until(refreshed(2), "the refreshed token expired and was refreshed again", timeout=30)
        assert _secret_changes(env) == ["upstream-oauth"]

        env.idp.close_account("alice")  # the IdP refuses alice's refresh token from now on

        def asked_to_reconnect() -> bool:
            result = env.call(alice).get("result", {})
            return bool(result.get("resultType") == "input_required")

        wait_until(
            asked_to_reconnect, "the refused refresh asks alice to connect again", timeout=30
        )
        asked = env.call(alice)["result"]["inputRequests"]["connect"]["params"]
        assert "connected again" in asked["message"]
        (item,) = env.api("GET", "/api/v1/servers/files/connections", None).json()["items"]
        assert item["status"] == "needs_reconnect"

        def refused() -> list[dict[str, Any]]:
            records = audit_records(env, "connections/refresh")
            return [r for r in records if r["outcome"] == "error"]

        wait_until(lambda: bool(refused()), "the refused refresh is audited")
        failed = refused()
        assert failed[0]["details"]["status"] == "needs_reconnect"
        assert failed[0]["target"] == "alice@hospital.example"


def test_with_vault_the_tokens_are_a_versioned_entry_at_the_connection_path(
    tmp_path: Path, vault_server: VaultServer
) -> None:
    vault_env = {
        "GIRU_SECRETS__BACKEND": "vault",
        "GIRU_SECRETS__VAULT__URL": vault_server.url,
        "GIRU_SECRETS__VAULT__TOKEN": vault_server.root_token,
        "GIRU_SECRETS__ENVIRONMENT": "e2e",
    }
    with connected_giru(tmp_path, extra_env=vault_env) as env:
        assert env.connect("alice").status_code == 200
        shown = vault_server.cli("kv", "get", "-mount=secret", "giru/e2e/mcp/files/sub-alice")
        assert set(shown["data"]["data"]) == {"tokens", "about"}
        assert shown["data"]["metadata"]["version"] == 1
        alice = env.token("alice")
        wait_until(lambda: "files__whoami" in _tools(env, alice), "the server's tools are listed")
        assert env.call(alice)["result"]["content"][0]["text"].startswith("sub=sub-alice ")
        database = (tmp_path / "giru.db").read_bytes()
        kept = json.loads(shown["data"]["data"]["tokens"])
        assert kept["access_token"].encode() not in database


def test_a_refused_fresh_token_is_refreshed_once_and_insufficient_scope_asks_to_reconnect(
    tmp_path: Path,
) -> None:
    with connected_giru(tmp_path) as env:
        assert env.connect("alice").status_code == 200
        alice = env.token("alice")
        wait_until(lambda: "files__whoami" in _tools(env, alice), "the server's tools are listed")
        assert env.call(alice)["result"]["content"][0]["text"].startswith("sub=sub-alice ")
        assert env.call(alice, "files__refuse")["result"]["content"][0]["text"] == "refused"

        # The upstream answers 401 to a token Giru believed fresh: one refresh, one retry.
        assert env.call(alice)["result"]["content"][0]["text"].startswith("sub=sub-alice ")
        # Audit records reach the store through the spool's drain: wait for it, then compare.
        wait_until(
            lambda: bool(audit_records(env, "connections/refresh")), "the refresh is audited"
        )
        refreshes = audit_records(env, "connections/refresh")
        assert [r["outcome"] for r in refreshes] == ["allowed"]

        # 403 insufficient_scope: a URL elicitation to connect again, asking for more scope.
        asked = env.call(alice, "files__admin")["result"]
        assert asked["resultType"] == "input_required"
        elicitation = asked["inputRequests"]["connect"]["params"]
        assert "admin" in elicitation["message"]
        opened = httpx.get(elicitation["url"], timeout=30)
        assert opened.status_code in (302, 303, 307), opened.text
        query = parse_qs(urlsplit(opened.headers["location"]).query)
        assert {"openid", "mcp", "admin"} <= set(query["scope"][0].split())
        (item,) = env.api("GET", "/api/v1/servers/files/connections", "alice").json()["items"]
        assert item["status"] == "needs_reconnect"
        wait_until(lambda: bool(audit_records(env, "connections/step-up")), "step-up audited")
        (step_up,) = audit_records(env, "connections/step-up")
        assert "admin" in step_up["details"]["scopes"]
