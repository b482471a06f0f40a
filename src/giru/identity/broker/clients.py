"""OAuth clients: who may ask for tokens, and the rules their registrations must follow.

A client is registered dynamically (RFC 7591) or named by the URL of its metadata document
(Client ID Metadata Documents). Either way its redirect URIs are `https`, or `http` on a
loopback address (a native app's local listener, RFC 8252 §7.3); nothing else is accepted, so
an authorization response can never be sent to `javascript:`, `data:` or a plain-http host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from giru.identity.broker.errors import OAuthError

__all__ = [
    "AUTH_METHODS",
    "ClientRecord",
    "Registration",
    "exact_redirect",
    "is_document_url",
    "parse_document",
    "parse_registration",
    "redirect_uri_allowed",
]

AuthMethod = Literal["none", "client_secret_basic", "client_secret_post"]
AUTH_METHODS: Final[tuple[AuthMethod, ...]] = ("none", "client_secret_basic", "client_secret_post")
GRANT_TYPES: Final = frozenset({"authorization_code", "refresh_token"})
_MAX_REDIRECTS: Final = 10
_MAX_URI: Final = 2000
_MAX_NAME: Final = 200
_LOOPBACK_NAMES: Final = frozenset({"localhost"})


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A client as Giru knows it (registered, or read from its metadata document)."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    auth_method: AuthMethod
    grant_types: frozenset[str]
    kind: Literal["registered", "document"]
    secret_hash: str | None = None
    expires_at: datetime | None = None  # an unused registration expires (None: used, or never)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def public(self) -> bool:
        return self.auth_method == "none"


@dataclass(frozen=True, slots=True)
class Registration:
    """A validated RFC 7591 registration request."""

    name: str
    redirect_uris: tuple[str, ...]
    auth_method: AuthMethod
    grant_types: frozenset[str]
    metadata: dict[str, Any]


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_allowed(uri: str) -> bool:
    """`https://…`, or `http://` on a loopback host; absolute, no fragment, no user info."""
    if not isinstance(uri, str) or len(uri) > _MAX_URI or any(ord(c) < 0x21 for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if host is None or parts.fragment or "#" in uri or "@" in parts.netloc:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and _is_loopback(host)


def _redirect_uris(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise OAuthError("invalid_redirect_uri", "redirect_uris must be a non-empty list")
    if len(value) > _MAX_REDIRECTS:
        raise OAuthError("invalid_redirect_uri", f"at most {_MAX_REDIRECTS} redirect_uris")
    for uri in value:
        if not redirect_uri_allowed(uri):
            raise OAuthError(
                "invalid_redirect_uri",
                "each redirect URI must be https, or http on a loopback address "
                "(127.0.0.1, [::1], localhost), without a fragment",
            )
    return tuple(dict.fromkeys(value))


def _text(body: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise OAuthError("invalid_client_metadata", f"{key} must be a string of at most {limit}")
    return value


def _grants(body: Mapping[str, Any]) -> frozenset[str]:
    grants = body.get("grant_types", ["authorization_code", "refresh_token"])
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise OAuthError("invalid_client_metadata", "grant_types must be a list of strings")
    if not set(grants) <= GRANT_TYPES or "authorization_code" not in grants:
        raise OAuthError(
            "invalid_client_metadata",
            "grant_types: authorization_code, optionally refresh_token; nothing else",
        )
    responses = body.get("response_types", ["code"])
    if responses != ["code"]:
        raise OAuthError("invalid_client_metadata", 'response_types must be ["code"]')
    return frozenset(grants)


def parse_registration(body: Any) -> Registration:
    """A registration request (RFC 7591 §2) checked; `OAuthError` names what is wrong."""
    if not isinstance(body, dict):
        raise OAuthError("invalid_client_metadata", "the body must be a JSON object")
    redirect_uris = _redirect_uris(body.get("redirect_uris"))
    method = body.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise OAuthError(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post",
        )
    name = _text(body, "client_name", _MAX_NAME) or "Unnamed client"
    kept = {k: body[k] for k in ("client_uri", "software_id", "software_version") if k in body}
    for key in kept:
        _text(body, key, _MAX_URI)
    return Registration(name, redirect_uris, method, _grants(body), kept)


def is_document_url(client_id: str) -> bool:
    """Whether `client_id` names a metadata document: an `https` URL with a path."""
    parts = urlsplit(client_id)
    return parts.scheme == "https" and bool(parts.hostname) and parts.path not in ("", "/")


def parse_document(url: str, document: Any) -> ClientRecord:
    """A client ID metadata document checked against the URL it came from."""
    if not isinstance(document, dict):
        raise OAuthError("invalid_client", "the client metadata document is not a JSON object")
    if document.get("client_id") != url:
        raise OAuthError("invalid_client", "the metadata document's client_id is not its URL")
    method = document.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise OAuthError(
            "invalid_client", "a metadata-document client must use token_endpoint_auth_method none"
        )
    try:
        redirect_uris = _redirect_uris(document.get("redirect_uris"))
        name = _text(document, "client_name", _MAX_NAME)
        grants = _grants(document)
    except OAuthError as exc:
        raise OAuthError("invalid_client", exc.description) from exc
    return ClientRecord(
        client_id=url,
        name=name or (urlsplit(url).hostname or url),
        redirect_uris=redirect_uris,
        auth_method="none",
        grant_types=grants,
        kind="document",
    )


def exact_redirect(client: ClientRecord, requested: str | None) -> str:
    """The redirect URI to answer on: `requested` exactly as registered, or the only one."""
    if requested is None:
        if len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        raise OAuthError("invalid_request", "redirect_uri is required")
    if requested not in client.redirect_uris:
        raise OAuthError("invalid_request", "redirect_uri is not registered for this client")
    return requested
