"""`open_broker`: the authorization server built from settings over an open database."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import timedelta

import aiohttp

from giru.identity.broker.documents import DocumentFetcher, DocumentLimits
from giru.identity.broker.flows import FlowSeal
from giru.identity.broker.keys import KeyRing
from giru.identity.broker.metadata import CALLBACK
from giru.identity.broker.relying_party import IdpConfig, RelyingParty
from giru.identity.broker.sealing import Sealer, key_encryption_key
from giru.identity.broker.server import Broker, BrokerConfig
from giru.identity.broker.storage import OAuthStore
from giru.identity.broker.trail import AuditSink, OAuthTrail
from giru.manifests.config import Config, IdentityProviderConfig
from giru.settings import Settings
from giru.store.database import Database

__all__ = ["broker_idp", "broker_provider", "open_broker", "resource_urls", "use_idp"]


def broker_provider(config: Config) -> IdentityProviderConfig | None:
    """The `IdentityProvider` in broker mode (at most one) people sign in at."""
    for idp in config.identity_providers.values():
        if idp.mode == "broker" and idp.client_id and idp.client_secret:
            return idp
    return None


def broker_idp(config: Config) -> IdpConfig | None:
    """The `IdentityProvider` in broker mode (at most one), as Giru's OIDC client sees it."""
    idp = broker_provider(config)
    if idp is None or idp.client_id is None or idp.client_secret is None:
        return None
    return IdpConfig(
        issuer=idp.issuer,
        client_id=idp.client_id,
        client_secret=idp.client_secret,
        scopes=idp.scopes,
        claims=idp.claims,
    )


def use_idp(broker: Broker, idp: IdpConfig | None, http: aiohttp.ClientSession) -> None:
    """Sign people in at `idp` from now on (kept as is when it did not change)."""
    current = broker.idp.config if broker.idp is not None else None
    if idp == current:
        return
    callback = broker.config.issuer + CALLBACK
    broker.idp = RelyingParty(idp, http, redirect_uri=callback) if idp is not None else None


def resource_urls(issuer: str, virtual_servers: Iterable[str]) -> frozenset[str]:
    """The resources tokens may be minted for (RFC 8707): the MCP endpoints `/mcp` and
    `/mcp/<vs>`, and the control-plane API `/api` (`giru login --sso`)."""
    endpoints = {f"{issuer}/mcp", f"{issuer}/api"}
    return frozenset({*endpoints, *(f"{issuer}/mcp/{name}" for name in virtual_servers)})


async def open_broker(
    settings: Settings,
    database: Database,
    *,
    audit: AuditSink | None,
    node: str,
    http: aiohttp.ClientSession,
    resources: Callable[[], Collection[str]],
    idp: IdpConfig | None,
) -> Broker:
    identity = settings.identity
    issuer = settings.base_url
    sealer = Sealer(key_encryption_key(settings))
    store = await OAuthStore.open(database, sealer)
    config = BrokerConfig(
        issuer=issuer,
        access_ttl_s=identity.access_token_ttl_s,
        refresh_ttl_s=identity.refresh_token_ttl_s,
        code_ttl_s=identity.code_ttl_s,
        sign_in_ttl_s=identity.sign_in_ttl_s,
        registration_expiry_s=identity.registration_expiry_s,
        registrations_per_minute=identity.registrations_per_minute,
    )
    limits = DocumentLimits(
        max_bytes=identity.document_max_bytes,
        timeout_s=identity.document_timeout_s,
        cache_s=identity.document_cache_s,
        allow_loopback=identity.allow_loopback_documents,
    )
    broker = Broker(
        config=config,
        store=store,
        keys=KeyRing(store, sealer, rotation=timedelta(days=identity.key_rotation_days)),
        flows=FlowSeal(sealer),
        documents=DocumentFetcher(limits),
        trail=OAuthTrail(audit, node),
        resources=resources,
    )
    use_idp(broker, idp, http)
    return broker
