"""`Broker`: the authorization server's parts and settings, shared by its endpoints."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from giru.errors import GiruError
from giru.identity.broker.clients import ClientRecord
from giru.identity.broker.documents import DocumentFetcher
from giru.identity.broker.errors import OAuthError
from giru.identity.broker.flows import FlowSeal
from giru.identity.broker.keys import KeyRing
from giru.identity.broker.relying_party import RelyingParty
from giru.identity.broker.storage import OAuthStore
from giru.identity.broker.trail import OAuthTrail

__all__ = ["Broker", "BrokerConfig", "PageError", "Redirect", "single_params", "with_query"]


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    issuer: str  # GIRU_PUBLIC_URL, no trailing slash
    access_ttl_s: int = 900
    refresh_ttl_s: int = 30 * 86_400
    code_ttl_s: int = 60
    sign_in_ttl_s: int = 600
    registration_expiry_s: int = 86_400
    registrations_per_minute: int = 10

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the browser to `location`; `cookie` (if set) binds the sign-in to it."""

    location: str
    cookie: str | None = None


class PageError(GiruError):
    """An error shown as a page, never redirected (unknown client, unregistered redirect URI,
    a flow from another browser, a CSRF token that does not match)."""

    code = "oauth_page"

    def __init__(self, title: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.status = status


@dataclass
class Broker:
    """What the endpoints share. `idp` is None until an IdentityProvider is configured;
    `resources` returns the resource URLs tokens may be minted for."""

    config: BrokerConfig
    store: OAuthStore
    keys: KeyRing
    flows: FlowSeal
    documents: DocumentFetcher
    trail: OAuthTrail
    resources: Callable[[], Collection[str]]
    idp: RelyingParty | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def client(self, client_id: str) -> ClientRecord | None:
        """A registered client, or one named by its metadata document's URL (fetched)."""
        if self.documents.accepts(client_id):
            return await self.documents.client(client_id)
        if len(client_id) > 200:
            return None
        return await self.store.client(client_id, self.clock())


def single_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Request parameters as a dict; `OAuthError` when one is repeated (RFC 6749 §3.1)."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise OAuthError("invalid_request", f"parameter {name[:40]!r} is repeated")
        params[name] = value
    return params


def with_query(url: str, params: dict[str, str | None]) -> str:
    """`url` with `params` added to its query (those that are None left out)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))
