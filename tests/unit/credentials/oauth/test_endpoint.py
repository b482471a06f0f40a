from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from giru.credentials.oauth import (
    ACCESS_TOKEN_TYPE,
    ClientAuth,
    OAuthHttp,
    TokenEndpoint,
    TokenEndpointError,
)
from tests.unit.credentials.oauth.conftest import TestAS, TokenRequest


def endpoint(
    auth_server: TestAS, oauth_http: OAuthHttp, method: str = "client_secret_post"
) -> TokenEndpoint:
    auth = ClientAuth("giru", method, "s3cret")  # type: ignore[arg-type]
    return TokenEndpoint(oauth_http, f"{auth_server.base}/token", auth, issuer=auth_server.base)


async def test_client_credentials_sends_scope_resource_and_audience(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    tokens = await endpoint(auth_server, oauth_http).client_credentials(
        scopes=("a", "b"), resource="https://mcp/x", audience="api"
    )
    assert tokens.access_token == "at-1"
    (seen,) = auth_server.tokens
    assert seen.form == {
        "grant_type": "client_credentials",
        "scope": "a b",
        "resource": "https://mcp/x",
        "audience": "api",
        "client_id": "giru",
        "client_secret": "s3cret",
    }


async def test_authorization_code_refresh_and_exchange_send_their_grants(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    ep = endpoint(auth_server, oauth_http, "client_secret_basic")
    await ep.authorization_code("c0de", "https://giru/oauth/callback", "v" * 50, resource="r")
    await ep.refresh("rt", resource="r")
    await ep.exchange("subject", audience="upstream", resource="r")
    code, refresh, exchange = (t.form for t in auth_server.tokens)
    assert code == {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": "https://giru/oauth/callback",
        "code_verifier": "v" * 50,
        "resource": "r",
    }
    assert refresh == {"grant_type": "refresh_token", "refresh_token": "rt", "resource": "r"}
    assert exchange == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": "subject",
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "audience": "upstream",
        "resource": "r",
        "requested_token_type": ACCESS_TOKEN_TYPE,
    }
    assert all(t.authorization and t.authorization.startswith("Basic ") for t in auth_server.tokens)


async def test_a_slow_token_endpoint_is_given_up_on_within_the_bound(
    auth_server: TestAS, http: object
) -> None:
    auth_server.stall = asyncio.Event()  # never set: only the client's timeout ends the wait
    slow = OAuthHttp(http, timeout_s=0.2)  # type: ignore[arg-type]
    with pytest.raises(TokenEndpointError, match=r"no answer within 0\.2 s"):
        await endpoint(auth_server, slow).client_credentials()


async def test_an_html_answer_is_reported_as_such(
    auth_server: TestAS, oauth_http: OAuthHttp
) -> None:
    def html(_: TokenRequest) -> web.Response:
        return web.Response(text="<html>sign in</html>", content_type="text/html")

    auth_server.token_reply = html
    with pytest.raises(TokenEndpointError, match="text/html, not JSON"):
        await endpoint(auth_server, oauth_http).client_credentials()


async def test_an_oversized_answer_is_refused(auth_server: TestAS, oauth_http: OAuthHttp) -> None:
    def huge(_: TokenRequest) -> web.Response:
        return web.json_response({"access_token": "a" * 10_000})

    auth_server.token_reply = huge
    with pytest.raises(TokenEndpointError, match="larger than 4096 bytes"):
        await endpoint(auth_server, oauth_http).client_credentials()


async def test_a_token_endpoint_on_a_metadata_address_is_refused(oauth_http: OAuthHttp) -> None:
    ep = TokenEndpoint(oauth_http, "http://169.254.169.254/token", ClientAuth("c", "none"))
    with pytest.raises(TokenEndpointError, match="link-local"):
        await ep.client_credentials()
