"""`token-exchange` end to end: a real `giru run` whose people sign in at the real test IdP
(oidc-provider, direct mode, with the RFC 8693 grant tests/idp.mjs adds), and an MCP server that
records the `Authorization` it saw. Each person's calls carry a token the IdP exchanged for
theirs (their `sub`, the upstream's audience), never their own token; one exchange per presented
token while it is fresh; a refused exchange is a clear error and an audit record; an API-key
caller gets a refusal, never a passthrough. In broker mode (people sign in through Giru, which
issues their tokens) the IdP token of each person's sign-in is what is exchanged; a sign-in the
IdP no longer accepts is a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml

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
from tests.integration.identity.broker import ADMIN_TOKEN as BROKER_ADMIN_TOKEN
from tests.integration.identity.broker import BrokeredGiru, brokered_giru
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


_BROKER_ADMIN = {"Authorization": f"Bearer {BROKER_ADMIN_TOKEN}"}


def _broker_token(giru: BrokeredGiru, login: str) -> str:
    """`login` signs in through Giru's broker (at the real IdP, consent at Giru): Giru's token."""
    client = giru.register()
    with httpx.Client() as http:
        authorization = giru.authorize(http, client["client_id"], login)
    redeemed = giru.redeem(client["client_id"], authorization)
    assert redeemed.status_code == 200, redeemed.text
    token: str = redeemed.json()["access_token"]
    return token


def _broker_call(giru: BrokeredGiru, token: str, method: str, params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": _META}}
    headers = {
        "authorization": f"Bearer {token}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
    }
    if method == "tools/call":
        headers["mcp-name"] = params["name"]
    response = httpx.post(giru.mcp, json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_people_signed_in_through_the_broker_call_with_tokens_exchanged_for_their_sign_in(
    tmp_path: Path,
) -> None:
    with brokered_giru(tmp_path) as giru, protected_upstream(tmp_path, giru.idp.issuer) as upstream:
        giru.idp.add_resource(upstream.url, scope="mcp", ttl=300)
        secret = {"data": {"value": giru.idp.client_secret}}
        stored = httpx.put(
            giru.url("/api/v1/secrets/idp-client"), json=secret, headers=_BROKER_ADMIN
        )
        assert stored.status_code in (200, 201), stored.text
        documents = [
            _exchanging_server(upstream.url, f"{giru.idp.issuer}/token"),
            *(
                subscription(f"{login}-files", f"{{user: {login}@hospital.example}}", "files")
                for login in ("alice", "bob", "carol")
            ),
        ]
        applied = httpx.post(
            giru.url("/api/v1/apply"),
            json={"documents": [yaml.safe_load(d) for d in documents]},
            headers=_BROKER_ADMIN,
            timeout=60,
        )
        assert applied.status_code == 200, applied.text
        alice, bob, carol = (_broker_token(giru, login) for login in ("alice", "bob", "carol"))

        def listed() -> bool:
            tools = _broker_call(giru, alice, "tools/list", {}).get("result", {}).get("tools", [])
            return "files__whoami" in {tool["name"] for tool in tools}

        wait_until(listed, "the server's tools are listed with alice's exchanged token")
        whoami = {"name": "files__whoami", "arguments": {}}
        for _ in range(2):
            answer = _broker_call(giru, alice, "tools/call", whoami)
            assert answer["result"]["content"][0]["text"] == f"sub=sub-alice aud={upstream.url}"
            answer = _broker_call(giru, bob, "tools/call", whoami)
            assert answer["result"]["content"][0]["text"] == f"sub=sub-bob aud={upstream.url}"
        assert giru.idp.token_exchanges() == 2  # one per person's sign-in token, then cached

        seen = [h.get("authorization", "").removeprefix("Bearer ") for h in upstream.seen()]
        bearers = {value for value in seen if value}
        assert bearers
        assert not {alice, bob, carol} & bearers  # never Giru's tokens
        for bearer in bearers:  # each one the IdP exchanged for the person (never its own token)
            key = jwt.PyJWKClient(giru.idp.jwks_uri).get_signing_key_from_jwt(bearer)
            claims = jwt.decode(
                bearer, key.key, algorithms=["RS256"], audience=upstream.url, issuer=giru.idp.issuer
            )
            assert claims["act"] == {"sub": CONFIDENTIAL_CLIENT}
            assert claims["sub"] in {"sub-alice", "sub-bob"}

        giru.idp.close_account("carol")  # the IdP no longer accepts carol's sign-in
        exchanges = giru.idp.token_exchanges()
        error = _broker_call(giru, carol, "tools/call", whoami)["error"]
        assert error["data"] == {"reason": "credentials_unavailable", "server": "files"}
        assert "must sign in again" in error["message"]
        assert giru.idp.token_exchanges() == exchanges
        assert carol not in str(upstream.seen())

        def audited() -> bool:
            records = giru.audit(action="credentials/token")
            refreshes = [r for r in records if r["target"] == "sign-in-refresh"]
            return {(r["actor"], r["outcome"]) for r in refreshes} >= {
                ("user:alice@hospital.example", "allowed"),
                ("user:bob@hospital.example", "allowed"),
                ("user:carol@hospital.example", "error"),
            }

        wait_until(audited, "each sign-in refresh audited, carol's refusal too")
        text = str(giru.audit(action="credentials/token"))
        assert not [token for token in (alice, bob, carol) if token in text]
