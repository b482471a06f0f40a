"""Identity: OAuth access tokens checked at Giru's endpoints, and the people they name.

`ProtectedResource` (the trusted issuers of a config) verifies a bearer token for an endpoint
and yields an `AccessToken`: the `Person` and the OAuth client acting for them. `KeySource` is
the seam for signing keys (`RemoteJwks` for an IdP's JWKS; Giru's own keys in broker mode).
"""

from giru.identity.documents import DocumentError, JsonFetch, http_fetch
from giru.identity.jwks import KeySource, RemoteJwks, UnknownKeyError
from giru.identity.metadata import WELL_KNOWN, challenge, endpoint_path
from giru.identity.people import Person
from giru.identity.resource import Issuer, ProtectedResource
from giru.identity.tokens import (
    ALGORITHMS,
    AccessToken,
    InsufficientScopeError,
    TokenError,
    TokenVerifier,
    token_hash,
)

__all__ = [
    "ALGORITHMS",
    "WELL_KNOWN",
    "AccessToken",
    "DocumentError",
    "InsufficientScopeError",
    "Issuer",
    "JsonFetch",
    "KeySource",
    "Person",
    "ProtectedResource",
    "RemoteJwks",
    "TokenError",
    "TokenVerifier",
    "UnknownKeyError",
    "challenge",
    "endpoint_path",
    "http_fetch",
    "token_hash",
]
