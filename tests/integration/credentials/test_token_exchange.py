"""`token-exchange` end to end: a real `giru run` whose people sign in at the real test IdP
(oidc-provider, direct mode, with the RFC 8693 grant tests/idp.mjs adds), and an MCP server that
records the `Authorization` it saw. Each person's calls carry a token the IdP exchanged for
theirs (their `sub`, the upstream's audience), never their own token; one exchange per presented
token while it is fresh; a refused exchange is a clear error and an audit record; an API-key
caller gets a refusal, never a passthrough."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.idp import CONFIDENTIAL_CLIENT, IdentityProviderPeer, start_identity_provider
from tests.integration.credentials.calls import apply, put_secret
from tests.integration.credentials.connections import (
    NO_POLICY,
    ConnectedGiru,
    ProtectedUpstream,
    audit_records,
    legacy_call,
    protected_upstream,
)
from tests.integration.gateway import CLIENT, KEY, RunningGiru, run_giru, wait_until
from tests.integration.identity.broker import brokered_giru
from tests.integration.oauth import MODERN, direct_provider, mcp, subscription

pytestmark = pytest.mark.integration
_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def _exchanging_server(url: str, token_endpoint: str) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: files}}
spec:
  transport: streamable-http
  url: {url}
  era: legacy
  timeouts: {{call: 5s, callMax: 20s, connect: 10s}}
  auth:
    type: token-exchange
    tokenEndpoint: {token_endpoint}
    clientId: {CONFIDENTIAL_CLIENT}
    clientSecret: {{secretRef: {{name: idp-client}}}}
    scopes: [mcp]
"""


@dataclass
class ExchangingGiru:
    giru: RunningGiru
    idp: IdentityProviderPeer
    upstream: ProtectedUpstream

    def token(self, login: str) -> str:
        """A fresh access token of `login` to Giru's `/mcp` (each call signs in again)."""
        return self.idp.tokens(login, resource=self.giru.url("/mcp")).access_token

    def call(self, token: str) -> dict[str, Any]:
        params = {"name": "files__whoami", "arguments": {}}
        response = mcp(self.giru, "tools/call", params, token=token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def tools(self, token: str) -> set[str]:
        body = mcp(self.giru, "tools/list", token=token).json()
        return {tool["name"] for tool in body.get("result", {}).get("tools", [])}

    def bearers(self) -> list[str]:
        """Every bearer token the upstream was sent."""
        seen = [headers.get("authorization", "") for headers in self.upstream.seen()]
        return [value.removeprefix("Bearer ") for value in seen if value]

    def verified(self, token: str) -> dict[str, Any]:
        """`token`'s claims, verified as the IdP's, issued for the upstream."""
        key = jwt.PyJWKClient(self.idp.jwks_uri).get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256", "ES256"],
            audience=self.upstream.url,
            issuer=self.idp.issuer,
        )
        return claims


@contextmanager
def exchanging_giru(workdir: Path) -> Iterator[ExchangingGiru]:
    with run_giru(CLIENT, workdir, extra_env=NO_POLICY) as giru:
        idp_dir = workdir / "idp"
        idp_dir.mkdir()
        idp = start_identity_provider(idp_dir, {})
        try:
            with protected_upstream(workdir, idp.issuer) as upstream:
                idp.add_resource(upstream.url, scope="mcp", ttl=300)
                idp.add_resource(giru.url("/mcp"), scope="mcp")
                put_secret(giru, "idp-client", idp.client_secret)
                documents = [
                    direct_provider(idp.issuer),
                    _exchanging_server(upstream.url, f"{idp.issuer}/token"),
                    subscription("alice-files", "{user: alice@hospital.example}", server="files"),
                    subscription("bob-files", "{user: bob@hospital.example}", server="files"),
                ]
                apply(giru, "\n---\n".join(d.strip() for d in documents))
                yield ExchangingGiru(giru, idp, upstream)
        finally:
            idp.peer.stop()


def _exchange_records(env: ExchangingGiru, outcome: str) -> list[dict[str, Any]]:
    return [
        r
        for r in audit_records(env.giru, "credentials/token")
        if r["target"] == "exchange" and r["outcome"] == outcome
    ]


def test_each_person_calls_with_a_token_exchanged_for_them_once_and_never_their_own(
    tmp_path: Path,
) -> None:
    with exchanging_giru(tmp_path) as env:
        alice, bob = env.token("alice"), env.token("bob")
        wait_until(lambda: "files__whoami" in env.tools(alice), "the server's tools are listed")

        answer = env.call(alice)
        assert answer["result"]["content"][0]["text"] == f"sub=sub-alice aud={env.upstream.url}"
        answer = env.call(bob)
        assert answer["result"]["content"][0]["text"] == f"sub=sub-bob aud={env.upstream.url}"
        exchanges = env.idp.token_exchanges()
        assert exchanges == 2  # one per person: listing the tools used alice's
        for _ in range(3):
            assert "sub=sub-alice" in env.call(alice)["result"]["content"][0]["text"]
            assert "sub=sub-bob" in env.call(bob)["result"]["content"][0]["text"]
        legacy = legacy_call(ConnectedGiru(env.giru, env.idp, env.upstream), alice, {})
        assert legacy["result"]["content"][0]["text"].startswith("sub=sub-alice ")
        assert env.idp.token_exchanges() == exchanges  # cached per presented token

        bearers = env.bearers()
        assert bearers
        assert alice not in bearers
        assert bob not in bearers
        subjects = set()
        for bearer in set(bearers):
            claims = env.verified(bearer)
            assert claims["act"] == {"sub": CONFIDENTIAL_CLIENT}
            subjects.add(claims["sub"])
        assert subjects == {"sub-alice", "sub-bob"}

        def audited() -> bool:
            actors = {r["actor"] for r in _exchange_records(env, "allowed")}
            return {"user:alice@hospital.example", "user:bob@hospital.example"} <= actors

        wait_until(audited, "each exchange audited with the person as actor")
        assert not [r for r in audit_records(env.giru, "credentials/token") if alice in str(r)]


def test_a_refused_exchange_is_a_clear_error_and_audited_and_an_api_key_is_never_passed_on(
    tmp_path: Path,
) -> None:
    with exchanging_giru(tmp_path) as env:
        alice = env.token("alice")
        wait_until(lambda: "files__whoami" in env.tools(alice), "the server's tools are listed")
        env.idp.refuse_exchanges(True)
        again = env.token("alice")  # another token: not in the cache, so exchanged
        error = env.call(again)["error"]
        assert error["data"]["reason"] == "credentials_unavailable"
        assert error["data"]["server"] == "files"
        assert "invalid_grant" in error["message"] or "refused" in error["message"]

        def refusal_audited() -> bool:
            return any(
                r["actor"] == "user:alice@hospital.example" for r in _exchange_records(env, "error")
            )

        wait_until(refusal_audited, "the refused exchange is audited")

        params = {"name": "files__whoami", "arguments": {}}
        response = mcp(env.giru, "tools/call", params, token=KEY)
        assert response.status_code == 200, response.text
        assert "error" in response.json(), response.text
        refused = response.json()["error"]
        assert refused["data"]["reason"] == "credentials_unavailable"
        assert "presented none" in refused["message"]
        assert KEY not in env.bearers()
        assert again not in env.bearers()
        assert alice not in env.bearers()


def test_a_broker_issued_token_is_not_exchanged_and_the_server_says_why(tmp_path: Path) -> None:
    extra = "\n---\n".join(
        [
            _exchanging_server("http://127.0.0.1:9/mcp", "http://127.0.0.1:9/token"),
            subscription("alice-files", "{user: alice@hospital.example}", server="files"),
        ]
    )
    with brokered_giru(tmp_path, extra) as giru:
        client = giru.register()
        with httpx.Client() as http:
            authorization = giru.authorize(http, client["client_id"], "alice")
        redeemed = giru.redeem(client["client_id"], authorization)
        assert redeemed.status_code == 200, redeemed.text
        token = redeemed.json()["access_token"]
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": _META}}
        headers = {
            "authorization": f"Bearer {token}",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": MODERN,
            "mcp-method": "tools/list",
        }
        listed = httpx.post(giru.mcp, json=body, headers=headers, timeout=30)
        assert listed.status_code == 200, listed.text

        def explained() -> bool:
            servers = httpx.get(giru.url("/readyz"), timeout=10).json()["servers"]
            return "broker mode" in servers.get("files", "")

        wait_until(explained, "the server's catalog says why it is not listed")
        assert giru.idp.token_exchanges() == 0
