"""Giru as the OAuth 2.1 authorization server MCP clients talk to, delegating sign-in to the
company IdP over OIDC ("broker" mode; docs/identity.md).

`open_broker` builds it over a store's database; `broker_app` serves it (public endpoints:
metadata, JWKS, authorize, IdP callback, consent, token, register, revoke).
"""

from giru.identity.broker.clients import ClientRecord
from giru.identity.broker.endpoints import broker_app, is_broker_path
from giru.identity.broker.errors import OAuthError
from giru.identity.broker.keys import KeyRing, LocalKeySource
from giru.identity.broker.relying_party import IdpConfig, RelyingParty, SignInError
from giru.identity.broker.server import Broker, BrokerConfig
from giru.identity.broker.wiring import (
    broker_idp,
    broker_provider,
    open_broker,
    resource_urls,
    use_idp,
)

__all__ = [
    "Broker",
    "BrokerConfig",
    "ClientRecord",
    "IdpConfig",
    "KeyRing",
    "LocalKeySource",
    "OAuthError",
    "RelyingParty",
    "SignInError",
    "broker_app",
    "broker_idp",
    "broker_provider",
    "is_broker_path",
    "open_broker",
    "resource_urls",
    "use_idp",
]
