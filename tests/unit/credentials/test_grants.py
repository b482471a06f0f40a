"""`UpstreamTokens` against a real in-process authorization server: Giru's token in the header
(never another `Authorization`), cached, renewed after a 401, discovered when not configured."""

from __future__ import annotations

import time

import pytest

from giru.credentials.connections import Caller
from giru.credentials.grants import UpstreamTokens
from giru.credentials.oauth import OAuthHttp, TokenCache
from giru.errors import CredentialsUnavailableError
from giru.identity import PresentedToken, token_hash
from giru.upstream.auth import OAuthClientAuth, SecretEntry
from giru.upstream.base import ServerSpec
from tests.unit.credentials.oauth.conftest import TestAS, auth_server, http, oauth_http

__all__ = ["auth_server", "http", "oauth_http"]


async def read(entry: SecretEntry, server: str) -> str:
    return f"secret-of-{entry.secret}"


def spec(auth_server: TestAS, *, token_endpoint: bool = True) -> ServerSpec:
    auth = OAuthClientAuth(
        grant="client_credentials",
        client_id="giru",
        auth_method="client_secret_post",
        credential=SecretEntry("crm"),
        token_endpoint=f"{auth_server.base}/token" if token_endpoint else None,
    )
    headers = {"authorization": "Bearer the-clients-own-token", "X-Team": "a"}
    return ServerSpec(
        "crm", "streamable-http", url=auth_server.server_url, headers=headers, auth=auth
    )


async def test_the_token_replaces_any_other_authorization_and_is_cached(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    tokens = UpstreamTokens(oauth_http, TokenCache(), read)
    server = spec(auth_server)
    assert isinstance(server.auth, OAuthClientAuth)
    first = await tokens.resolve(server, server.auth)
    assert first.headers == {"Authorization": "Bearer at-1", "X-Team": "a"}
    assert await tokens.resolve(server, server.auth) is first
    (request,) = auth_server.tokens
    assert request.form["client_secret"] == "secret-of-crm"
    assert request.form["resource"] == auth_server.server_url


async def test_a_401_makes_the_next_resolve_fetch_a_new_token(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    tokens = UpstreamTokens(oauth_http, TokenCache(), read)
    server = spec(auth_server)
    assert isinstance(server.auth, OAuthClientAuth)
    refused = await tokens.resolve(server, server.auth)
    await tokens.refused(refused)
    renewed = await tokens.resolve(server, server.auth)
    assert renewed.headers["Authorization"] == "Bearer at-2"


async def test_without_a_token_endpoint_it_is_discovered_with_its_resource_and_scopes(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    tokens = UpstreamTokens(oauth_http, TokenCache(), read)
    server = spec(auth_server, token_endpoint=False)
    assert isinstance(server.auth, OAuthClientAuth)
    resolved = await tokens.resolve(server, server.auth)
    assert resolved.headers["Authorization"] == "Bearer at-1"
    (request,) = auth_server.tokens
    assert request.form["scope"] == "mcp:read"
    assert request.form["resource"] == auth_server.server_url


async def test_token_exchange_without_a_caller_token_is_refused(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    tokens = UpstreamTokens(oauth_http, TokenCache(), read)
    server = spec(auth_server)
    auth = OAuthClientAuth("token_exchange", "giru", "client_secret_post", SecretEntry("x"))
    with pytest.raises(CredentialsUnavailableError, match="caller's token"):
        await tokens.resolve(server, auth)
    assert auth_server.tokens == []


def caller(login: str, *, broker: bool = False) -> Caller:
    value = f"{login}-token-to-giru"
    presented = PresentedToken(value, token_hash(value), time.time() + 300, broker)
    return Caller(f"sub-{login}", f"{login}@example.com", presented)


def exchange_auth(auth_server: TestAS) -> OAuthClientAuth:
    return OAuthClientAuth(
        "token_exchange",
        "giru",
        "client_secret_basic",
        SecretEntry("idp-client"),
        token_endpoint=f"{auth_server.base}/token",
        audience="crm",
    )


async def test_token_exchange_sends_the_callers_token_to_the_idp_only_cached_per_token(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    tokens = UpstreamTokens(oauth_http, TokenCache(), read)
    server, auth = spec(auth_server), exchange_auth(auth_server)
    alice = await tokens.exchanged(server, auth, caller("alice"))
    again = await tokens.exchanged(server, auth, caller("alice"))
    bob = await tokens.exchanged(server, auth, caller("bob"))
    assert alice == again == "at-1"
    assert bob == "at-2"
    assert await tokens.exchanged(server, auth, None) == "at-2"  # the last caller's, to list
    forms = [t.form for t in auth_server.tokens]
    assert [f["subject_token"] for f in forms] == ["alice-token-to-giru", "bob-token-to-giru"]
    assert all(f["grant_type"].endswith(":token-exchange") for f in forms)
    assert all(f["audience"] == "crm" for f in forms)


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        (Caller("client", "client"), "presented none"),
        (caller("alice", broker=True), "broker mode"),
        (None, "no person"),
    ],
)
async def test_token_exchange_without_an_exchangeable_token_is_refused_before_any_request(
    auth_server: TestAS, oauth_http: OAuthHttp, who: Caller | None, reason: str
) -> None:
    tokens = UpstreamTokens(oauth_http, TokenCache(), read)
    with pytest.raises(CredentialsUnavailableError, match=reason):
        await tokens.exchanged(spec(auth_server), exchange_auth(auth_server), who)
    assert auth_server.tokens == []


async def test_an_upstreams_401_makes_the_next_call_exchange_again(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    tokens = UpstreamTokens(oauth_http, TokenCache(), read)
    server, auth = spec(auth_server), exchange_auth(auth_server)
    assert await tokens.exchanged(server, auth, caller("alice")) == "at-1"
    await tokens.exchange_refused(server, auth, caller("alice"))
    assert await tokens.exchanged(server, auth, caller("alice")) == "at-2"


class SignIns:
    """People's sign-in IdP tokens, as `SignInTokens` would give them (one per person)."""

    def __init__(self) -> None:
        self.tokens: dict[str, PresentedToken] = {}

    def peek(self, caller: Caller) -> PresentedToken | None:
        return self.tokens.get(caller.subject)

    async def subject_token(self, server: str, caller: Caller) -> PresentedToken:
        value = f"idp-token-of-{caller.subject}"
        token = PresentedToken(value, token_hash(value), time.time() + 300)
        self.tokens[caller.subject] = token
        return token


async def test_a_broker_issued_token_is_exchanged_as_the_persons_sign_in_idp_token(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    tokens = UpstreamTokens(oauth_http, TokenCache(), read)
    tokens.sign_ins = SignIns()
    server, auth = spec(auth_server), exchange_auth(auth_server)
    alice = caller("alice", broker=True)
    assert await tokens.exchanged(server, auth, alice) == "at-1"
    assert await tokens.exchanged(server, auth, alice) == "at-1"
    assert await tokens.exchanged(server, auth, caller("bob", broker=True)) == "at-2"
    subjects = [t.form["subject_token"] for t in auth_server.tokens]
    assert subjects == ["idp-token-of-sub-alice", "idp-token-of-sub-bob"]
    await tokens.exchange_refused(server, auth, alice)
    assert await tokens.exchanged(server, auth, alice) == "at-3"
