from __future__ import annotations

import pytest

from giru.credentials.oauth import metadata_urls, resource_matches, resource_metadata_urls


def test_the_challenge_metadata_url_is_the_only_one_tried() -> None:
    assert resource_metadata_urls("https://h/mcp", "https://h/prm") == ("https://h/prm",)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (
            "https://h:8443/a/mcp?x=1",
            (
                "https://h:8443/.well-known/oauth-protected-resource/a/mcp",
                "https://h:8443/.well-known/oauth-protected-resource",
            ),
        ),
        ("https://h/", ("https://h/.well-known/oauth-protected-resource",)),
    ],
)
def test_resource_metadata_is_tried_path_inserted_then_at_the_root(
    server: str, expected: tuple[str, ...]
) -> None:
    assert resource_metadata_urls(server, None) == expected


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        (
            "https://as/tenant1",
            (
                "https://as/.well-known/oauth-authorization-server/tenant1",
                "https://as/.well-known/openid-configuration/tenant1",
                "https://as/tenant1/.well-known/openid-configuration",
            ),
        ),
        (
            "https://as",
            (
                "https://as/.well-known/oauth-authorization-server",
                "https://as/.well-known/openid-configuration",
            ),
        ),
    ],
)
def test_authorization_server_metadata_follows_the_mcp_fallback_order(
    issuer: str, expected: tuple[str, ...]
) -> None:
    assert metadata_urls(issuer) == expected


@pytest.mark.parametrize(
    ("resource", "server", "matches"),
    [
        ("https://h/mcp", "https://h/mcp", True),
        ("https://h/mcp/", "https://h/mcp", True),
        ("https://H:443/", "https://h/mcp", True),
        ("https://h", "https://h/a/mcp", True),
        ("https://h/m", "https://h/mcp", False),
        ("https://h/other", "https://h/mcp", False),
        ("https://evil/mcp", "https://h/mcp", False),
        ("http://h/mcp", "https://h/mcp", False),
        ("https://h:444/mcp", "https://h/mcp", False),
        ("https://h/mcp?x", "https://h/mcp", False),
        ("not a url", "https://h/mcp", False),
    ],
)
def test_a_resource_must_name_the_server_or_a_parent_of_it(
    resource: str, server: str, matches: bool
) -> None:
    assert resource_matches(resource, server) is matches
