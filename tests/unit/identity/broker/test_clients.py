from __future__ import annotations

from typing import Any

import pytest

from giru.identity.broker.clients import (
    exact_redirect,
    is_document_url,
    parse_document,
    parse_registration,
    redirect_uri_allowed,
)
from giru.identity.broker.errors import OAuthError

DOC = "https://app.example/oauth/client.json"


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("https://app.example/callback", True),
        ("https://app.example:8443/cb?x=1", True),
        ("http://127.0.0.1:33418/callback", True),
        ("http://[::1]:8080/cb", True),
        ("http://localhost:9000/cb", True),
        ("http://127.8.9.1/cb", True),
        ("http://app.example/callback", False),
        ("http://10.0.0.1/callback", False),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,hi", False),
        ("file:///etc/passwd", False),
        ("https://app.example/cb#frag", False),
        ("https://user:pw@app.example/cb", False),
        ("https://app.example:99999/cb", False),
        ("https:///cb", False),
        ("/relative", False),
        ("https://app.example/c b", False),
        ("https://app.example/\ncb", False),
        ("https://" + "a" * 2000 + ".example/", False),
    ],
)
def test_redirect_uris_are_https_or_loopback_http(uri: str, allowed: bool) -> None:
    assert redirect_uri_allowed(uri) is allowed


def test_a_registration_defaults_to_code_and_refresh_grants() -> None:
    registration = parse_registration(
        {"redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": "none"}
    )
    assert registration.grant_types == {"authorization_code", "refresh_token"}
    assert registration.auth_method == "none"
    assert registration.name == "Unnamed client"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://a.example/cb"] * 11}, "invalid_redirect_uri"),
        (
            {"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]},
            "invalid_client_metadata",
        ),
        ({"redirect_uris": ["https://a.example/cb"], "client_name": 7}, "invalid_client_metadata"),
        (
            {"redirect_uris": ["https://a.example/cb"], "client_uri": "x" * 3000},
            "invalid_client_metadata",
        ),
        ("not an object", "invalid_client_metadata"),
    ],
)
def test_bad_registrations_name_their_error(body: Any, error: str) -> None:
    with pytest.raises(OAuthError) as raised:
        parse_registration(body)
    assert raised.value.error == error


def test_document_urls_are_https_with_a_path() -> None:
    assert is_document_url(DOC)
    assert not is_document_url("https://app.example/")
    assert not is_document_url("http://app.example/client.json")
    assert not is_document_url("giru_client_abc")


def test_a_document_must_name_itself() -> None:
    document = {"client_id": DOC, "redirect_uris": ["http://127.0.0.1/cb"], "client_name": "App"}
    assert parse_document(DOC, document).name == "App"
    with pytest.raises(OAuthError, match="not its URL"):
        parse_document(DOC, {**document, "client_id": "https://other.example/c.json"})
    with pytest.raises(OAuthError, match="none"):
        parse_document(DOC, {**document, "token_endpoint_auth_method": "client_secret_basic"})
    with pytest.raises(OAuthError):
        parse_document(DOC, {**document, "redirect_uris": ["javascript:x"]})


def test_the_redirect_uri_must_match_exactly() -> None:
    client = parse_document(
        DOC, {"client_id": DOC, "redirect_uris": ["http://127.0.0.1/a", "http://127.0.0.1/b"]}
    )
    assert exact_redirect(client, "http://127.0.0.1/b") == "http://127.0.0.1/b"
    for other in (None, "http://127.0.0.1/a/", "http://127.0.0.1/A", "http://localhost/a"):
        with pytest.raises(OAuthError):
            exact_redirect(client, other)
