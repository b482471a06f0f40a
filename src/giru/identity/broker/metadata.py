"""The authorization server metadata (RFC 8414; OpenID discovery) and the endpoint paths."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["PATHS", "SCOPES", "metadata_document", "well_known_paths"]

SCOPES: Final = ("mcp", "offline_access")
PATHS: Final = {
    "authorization_endpoint": "/oauth/authorize",
    "token_endpoint": "/oauth/token",
    "registration_endpoint": "/oauth/register",
    "revocation_endpoint": "/oauth/revoke",
    "jwks_uri": "/oauth/jwks.json",
}
CALLBACK: Final = "/oauth/idp/callback"
CONSENT: Final = "/oauth/consent"
_AUTH_METHODS: Final = ["none", "client_secret_basic", "client_secret_post"]


def well_known_paths(issuer_path: str) -> tuple[str, str]:
    """Where the metadata is served for an issuer whose URL has path `issuer_path` (RFC 8414
    §3.1 inserts the well-known segment before the path)."""
    return (
        f"/.well-known/oauth-authorization-server{issuer_path}",
        f"/.well-known/openid-configuration{issuer_path}",
    )


def metadata_document(issuer: str) -> dict[str, Any]:
    """The metadata of the authorization server whose issuer is `issuer` (no trailing /)."""
    endpoints = {name: issuer + path for name, path in PATHS.items()}
    return {
        "issuer": issuer,
        **endpoints,
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": _AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": _AUTH_METHODS,
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "email", "name", "groups", "amr", "auth_time"],
    }
