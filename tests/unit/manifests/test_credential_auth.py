"""`MCPServer.spec.auth` of types `oauth2-client-credentials`, `token-exchange` and `mtls`:
secrets by reference only, rules per auth method and transport, compiled for the resolvers."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from giru.manifests.upstream_auth import compile_credential_auth
from giru.upstream.auth import MtlsAuth, OAuthClientAuth, SecretEntry
from tests.unit.manifests.test_auth import HTTP, STDIO, compiled, spec

SECRET = {"secretRef": {"name": "crm-oauth"}}
KEY = {"secretRef": {"name": "crm-key", "key": "pem"}}
CC = {"type": "oauth2-client-credentials", "clientId": "giru", "clientSecret": SECRET}


def test_client_credentials_compile_with_discovery_left_for_later() -> None:
    assert compiled(HTTP, {**CC, "scopes": ["mcp:tools"], "audience": "crm"}) == OAuthClientAuth(
        grant="client_credentials",
        client_id="giru",
        auth_method="client_secret_basic",
        credential=SecretEntry("crm-oauth"),
        scopes=("mcp:tools",),
        audience="crm",
    )


def test_private_key_jwt_reads_the_private_key() -> None:
    auth = {**CC, "authMethod": "private_key_jwt", "privateKey": KEY}
    del auth["clientSecret"]
    result = compiled(HTTP, auth)
    assert isinstance(result, OAuthClientAuth)
    assert result.credential == SecretEntry("crm-key", "pem")


def test_token_exchange_compiles_with_its_subject_token_type() -> None:
    auth = {
        "type": "token-exchange",
        "tokenEndpoint": "https://idp.example.com/token",
        "clientId": "giru",
        "clientSecret": SECRET,
        "subjectTokenType": "urn:ietf:params:oauth:token-type:jwt",
    }
    result = compile_credential_auth(spec(HTTP, auth).auth)
    assert isinstance(result, OAuthClientAuth)
    assert result.grant == "token_exchange"
    assert result.subject_token_type == "urn:ietf:params:oauth:token-type:jwt"


def test_a_token_exchange_manifest_is_accepted() -> None:
    auth = {
        "type": "token-exchange",
        "tokenEndpoint": "https://idp.example.com/token",
        "clientId": "giru",
        "clientSecret": SECRET,
        "audience": "crm",
        "scopes": ["crm.read"],
    }
    assert spec(HTTP, auth).problems() == []


def test_mtls_compiles_its_three_references() -> None:
    auth = {"type": "mtls", "certificate": SECRET, "key": KEY, "ca": SECRET}
    assert compiled(HTTP, auth) == MtlsAuth(
        SecretEntry("crm-oauth"), SecretEntry("crm-key", "pem"), SecretEntry("crm-oauth")
    )


@pytest.mark.parametrize(
    ("base", "auth", "field"),
    [
        (HTTP, {**CC, "authMethod": "private_key_jwt"}, "spec.auth.privateKey"),
        (HTTP, {**CC, "authMethod": "private_key_jwt"}, "spec.auth.clientSecret"),
        (HTTP, {"type": "oauth2-client-credentials", "clientId": "g"}, "spec.auth.clientSecret"),
        (HTTP, {**CC, "privateKey": KEY}, "spec.auth.privateKey"),
        (STDIO, CC, "spec.auth.type"),
        (
            STDIO,
            {
                "type": "token-exchange",
                "tokenEndpoint": "https://idp/t",
                "clientId": "g",
                "clientSecret": SECRET,
            },
            "spec.auth.type",
        ),
        (
            HTTP,
            {"type": "token-exchange", "tokenEndpoint": "https://idp/t", "clientId": "g"},
            "spec.auth.clientSecret",
        ),
        (
            {"transport": "streamable-http", "url": "http://mcp.example.com/mcp"},
            {"type": "mtls", "certificate": SECRET, "key": KEY},
            "spec.url",
        ),
    ],
)
def test_credential_auth_rules_name_the_field(
    base: dict[str, Any], auth: dict[str, Any], field: str
) -> None:
    assert field in [path for path, _ in spec(base, auth).problems()]


@pytest.mark.parametrize(
    "auth",
    [
        {**CC, "clientSecret": "inline-secret"},
        {**CC, "tokenEndpoint": "ftp://x/token"},
        {**CC, "scopes": ["has space"]},
        {"type": "token-exchange", "clientId": "g", "clientSecret": SECRET},
        {"type": "mtls", "certificate": SECRET},
    ],
)
def test_malformed_credential_auth_is_refused(auth: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        spec(HTTP, auth)
