from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from giru.identity.broker.metadata import metadata_document, well_known_paths
from giru.identity.broker.pages import consent_page, error_page
from giru.identity.broker.tokens import access_claims, digest, new_secret
from giru.identity.broker.wiring import resource_urls
from giru.identity.people import Person


def test_metadata_names_every_endpoint_under_the_issuer() -> None:
    document = metadata_document("https://giru.example")
    assert document["issuer"] == "https://giru.example"
    for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint",
                "revocation_endpoint", "jwks_uri"):  # fmt: skip
        assert document[key].startswith("https://giru.example/oauth/")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "none" in document["token_endpoint_auth_methods_supported"]


def test_metadata_of_an_issuer_with_a_path_is_served_at_the_suffixed_well_known_url() -> None:
    path = urlsplit("https://corp.example/giru").path
    assert well_known_paths(path) == (
        "/.well-known/oauth-authorization-server/giru",
        "/.well-known/openid-configuration/giru",
    )


def test_tokens_may_be_minted_for_mcp_each_virtual_server_and_the_api() -> None:
    assert resource_urls("https://g.example", ["vs1"]) == {
        "https://g.example/mcp",
        "https://g.example/mcp/vs1",
        "https://g.example/api",
    }


def test_pages_escape_what_clients_and_idps_send() -> None:
    html = consent_page(
        client_name='<script>alert("x")</script>',
        client_id="c",
        person="a&b@example",
        scopes=["mcp", "<b>"],
        resource="https://g.example/mcp",
        flow='"><img src=x>',
        csrf="t",
        action="https://g.example/oauth/consent",
    )
    assert "<script>" not in html
    assert "<img" not in html
    assert "a&amp;b@example" in html
    assert 'lang="en"' in html
    assert "<script" not in error_page("<script>", "x")


def test_an_access_token_carries_the_contracted_claims() -> None:
    person = Person(
        "https://idp.example", "sub-1", "a@example", "A", ("nurses",), ("pwd", "otp"), 1_800_000_000
    )
    now = datetime.fromtimestamp(1_800_000_100, UTC)
    token = access_claims(
        issuer="https://g.example", resource="https://g.example/mcp", person=person,
        client_id="c1", scope="mcp", now=now, ttl_s=900,
    )  # fmt: skip
    assert set(token.claims) == {
        "iss", "aud", "sub", "email", "name", "groups", "amr", "auth_time",
        "client_id", "scope", "iat", "exp", "jti",
    }  # fmt: skip
    assert token.claims["exp"] - token.claims["iat"] == 900
    assert token.claims["groups"] == ["nurses"]
    assert token.expires_in == 900


def test_secrets_are_random_and_stored_as_sha256() -> None:
    first, second = new_secret("giru_rt_"), new_secret("giru_rt_")
    assert first != second
    assert first.startswith("giru_rt_")
    assert len(digest(first)) == 64
    assert digest(first) != first
