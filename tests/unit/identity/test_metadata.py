"""Protected resource metadata and the WWW-Authenticate challenge (RFC 9728, RFC 6750)."""

from __future__ import annotations

import pytest

from giru.identity import challenge, endpoint_path
from giru.identity.metadata import protected_resource_metadata


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/.well-known/oauth-protected-resource", "/mcp"),
        ("/.well-known/oauth-protected-resource/", "/mcp"),
        ("/.well-known/oauth-protected-resource/mcp", "/mcp"),
        ("/.well-known/oauth-protected-resource/mcp/clinic", "/mcp/clinic"),
        ("/.well-known/oauth-protected-resource/sse", "/sse"),
        ("/.well-known/oauth-protected-resourceX", None),
        ("/mcp", None),
    ],
)
def test_a_metadata_path_names_its_endpoint(path: str, endpoint: str | None) -> None:
    assert endpoint_path(path) == endpoint


def test_the_metadata_names_the_resource_and_its_authorization_servers() -> None:
    document = protected_resource_metadata(
        "https://giru.example/mcp/clinic", ["https://giru.example"], ["mcp"]
    )
    assert document["resource"] == "https://giru.example/mcp/clinic"
    assert document["authorization_servers"] == ["https://giru.example"]
    assert document["scopes_supported"] == ["mcp"]
    assert document["bearer_methods_supported"] == ["header"]


def test_the_challenge_points_at_the_metadata_and_cannot_be_broken_by_a_reason() -> None:
    value = challenge(
        "https://giru.example/.well-known/oauth-protected-resource/mcp",
        ["mcp", "openid"],
        error="invalid_token",
        description='bad "token"\r\nX-Injected: 1',
    )
    assert value == (
        'Bearer resource_metadata="https://giru.example/.well-known/oauth-protected-resource/mcp",'
        ' scope="mcp openid", error="invalid_token", error_description="bad tokenX-Injected: 1"'
    )
