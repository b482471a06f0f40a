"""Giru as an OAuth client of its upstreams' authorization servers (MCP authorization spec,
client side). The pieces, each usable alone:

- `Discovery(OAuthHttp(http))`: an MCP server's authorization server, from its 401 challenge
  (`parse_challenge`) through RFC 9728 Protected Resource Metadata to RFC 8414 / OIDC metadata;
  `resource` and `issuer` checked, every fetch SSRF-guarded, bounded and cached.
- `TokenEndpoint(http, url, ClientAuth(...), issuer=...)`: the grants (client_credentials,
  authorization_code + PKCE (`Pkce`), refresh_token, token exchange), each with the RFC 8707
  `resource`, client authentication `client_secret_basic` / `client_secret_post` /
  `private_key_jwt` / `none`; bad answers are `TokenEndpointError` (its `error` is the OAuth
  code: `invalid_grant` means the grant is gone, e.g. a revoked refresh token).
- `TokenCache(shared=RedisTokens(...))`: tokens until shortly before expiry, obtained
  single-flight across workers, a rotated refresh token stored before use.
- `TokenTrail(audit)`: one audit record per token request (no values).

`OAuthHttp` needs an `aiohttp.ClientSession` from `giru.egress` (the app's upstream session);
every error is a `CredentialsUnavailableError`. A person-made connection (authorization code)
uses the same pieces: discover, build the authorization URL with `Pkce().challenge`, redeem
the code with `TokenEndpoint.authorization_code`, then keep the `TokenSet` under a key of its
own (`conn:<server>:<person>`) in a `TokenCache` whose `shared` store persists it. `RedisTokens`
keeps tokens only as long as they (and a month for a refresh token) live: for connections that
must survive Redis, implement `SharedTokens` with `load`/`save` over the secret backend
(`TokenSet.dumps`/`loads`) and `lock` delegating to a `RedisTokens(...).lock(key)` (or to an
`asyncio.Lock` per key without Redis). `fetch(previous)` receives the stored tokens, so a
refresh uses the newest refresh token; an `invalid_grant` `TokenEndpointError` from it means
the connection must be made again.
"""

from giru.credentials.oauth.cache import Fetch, SharedTokens, SharedTokensError, TokenCache
from giru.credentials.oauth.challenge import BearerChallenge, parse_challenge
from giru.credentials.oauth.clientauth import AuthMethod, ClientAuth
from giru.credentials.oauth.discovery import (
    AuthorizationServer,
    Discovered,
    Discovery,
    ProtectedResource,
)
from giru.credentials.oauth.endpoint import (
    ACCESS_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    TokenEndpoint,
)
from giru.credentials.oauth.errors import DiscoveryError, OAuthError, TokenEndpointError
from giru.credentials.oauth.pkce import Pkce
from giru.credentials.oauth.shared import RedisTokens
from giru.credentials.oauth.tokens import DEFAULT_LIFETIME_S, TokenSet, read_token_reply
from giru.credentials.oauth.trail import TokenTrail
from giru.credentials.oauth.transport import OAuthHttp, Reply
from giru.credentials.oauth.wellknown import (
    metadata_urls,
    resource_matches,
    resource_metadata_urls,
)

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "DEFAULT_LIFETIME_S",
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "AuthMethod",
    "AuthorizationServer",
    "BearerChallenge",
    "ClientAuth",
    "Discovered",
    "Discovery",
    "DiscoveryError",
    "Fetch",
    "OAuthError",
    "OAuthHttp",
    "Pkce",
    "ProtectedResource",
    "RedisTokens",
    "Reply",
    "SharedTokens",
    "SharedTokensError",
    "TokenCache",
    "TokenEndpoint",
    "TokenEndpointError",
    "TokenSet",
    "TokenTrail",
    "metadata_urls",
    "parse_challenge",
    "read_token_reply",
    "resource_matches",
    "resource_metadata_urls",
]
