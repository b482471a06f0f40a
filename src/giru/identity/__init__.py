"""Identity: OAuth access tokens checked at Giru's endpoints, and the people they name.

`ProtectedResource` (the trusted issuers of a config) verifies a bearer token for an endpoint
and yields an `AccessToken`: the `Person` and the OAuth client acting for them. `KeySource` is
the seam for signing keys (`RemoteJwks` for an IdP's JWKS; Giru's own keys in broker mode);
`Introspection` checks opaque tokens at a direct-mode IdP (RFC 7662).
"""

from giru.identity.documents import DocumentError, FormPost, JsonFetch, http_fetch, http_post
from giru.identity.introspection import (
    MAX_ANSWER_BYTES,
    Introspection,
    IntrospectionUnavailableError,
)
from giru.identity.jwks import KeySource, RemoteJwks, UnknownKeyError
from giru.identity.metadata import WELL_KNOWN, challenge, endpoint_path
from giru.identity.people import Person
from giru.identity.resource import Issuer, ProtectedResource
from giru.identity.revocations import REVOKED, Revocations
from giru.identity.tokens import (
    ALGORITHMS,
    AccessToken,
    InsufficientScopeError,
    PresentedToken,
    TokenError,
    TokenVerifier,
    looks_like_jwt,
    token_hash,
)

__all__ = [
    "ALGORITHMS",
    "MAX_ANSWER_BYTES",
    "REVOKED",
    "WELL_KNOWN",
    "AccessToken",
    "DocumentError",
    "FormPost",
    "InsufficientScopeError",
    "Introspection",
    "IntrospectionUnavailableError",
    "Issuer",
    "JsonFetch",
    "KeySource",
    "Person",
    "PresentedToken",
    "ProtectedResource",
    "RemoteJwks",
    "Revocations",
    "TokenError",
    "TokenVerifier",
    "UnknownKeyError",
    "challenge",
    "endpoint_path",
    "http_fetch",
    "http_post",
    "looks_like_jwt",
    "token_hash",
]
