"""Signing keys of an issuer by key id: the `KeySource` seam, and a JWKS fetched over HTTP.

`RemoteJwks` fetches the issuer's JWKS (its URI from the manifest, else from the issuer's
discovery document), keeps it `cache_s`, and fetches again when asked for a key id it does not
hold, at most once per `refetch_min_s` (one fetch at a time): a flood of tokens with made-up key
ids costs the IdP one request per interval, not one per token. A failed fetch keeps the keys it
had.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from giru.identity.documents import DocumentError, JsonFetch

__all__ = ["KeySource", "RemoteJwks", "UnknownKeyError", "discovery_urls", "parse_jwks"]

_log = structlog.get_logger(__name__)
_MAX_KEYS = 50


class UnknownKeyError(LookupError):
    """No signing key with this key id (after a refetch, when one was allowed)."""


class KeySource(Protocol):
    """Public signing keys by key id (`kid`): raises `UnknownKeyError` for an unknown one."""

    async def key(self, kid: str) -> PyJWK: ...


def discovery_urls(issuer: str) -> tuple[str, ...]:
    """Where an issuer's metadata lives: OIDC discovery, then RFC 8414."""
    base = issuer.rstrip("/")
    return (
        f"{base}/.well-known/openid-configuration",
        f"{base}/.well-known/oauth-authorization-server",
    )


def parse_jwks(document: Any) -> dict[str, PyJWK]:
    """The signing keys of a JWKS with a `kid`; keys that are not for signatures, private,
    symmetric or unusable are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise DocumentError("not a JWKS (no keys list)")
    keys: dict[str, PyJWK] = {}
    for entry in document["keys"][:_MAX_KEYS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        if "d" in entry:  # a private key published by mistake: never use it
            continue
        try:
            keys[entry["kid"]] = PyJWK(entry)
        except PyJWKError:
            continue
    return keys


class RemoteJwks:
    """The JWKS of `issuer` over HTTP (see the module docstring)."""

    def __init__(
        self,
        issuer: str,
        fetch: JsonFetch,
        *,
        jwks_uri: str | None = None,
        cache_s: float = 3600.0,
        refetch_min_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._fetch = fetch
        self._jwks_uri = jwks_uri
        self.jwks_uri_configured = jwks_uri
        self._cache_s = cache_s
        self._refetch_min_s = refetch_min_s
        self._clock = clock
        self._keys: Mapping[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """JWKS requests made (for metrics and tests)."""

    async def key(self, kid: str) -> PyJWK:
        found = self._keys.get(kid)
        if found is not None and not self._stale():
            return found
        if self._may_fetch():
            async with self._lock:
                if self._may_fetch():  # another task may have fetched while this one waited
                    await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            raise UnknownKeyError(kid)
        return found

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_s

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= (
            self._refetch_min_s
        )

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        try:
            uri = self._jwks_uri or await self._discover()
            self.fetches += 1
            keys = parse_jwks(await self._fetch(uri))
        except DocumentError as exc:
            _log.warning("jwks_fetch_failed", issuer=self.issuer, error=str(exc)[:300])
            return
        self._jwks_uri = uri
        self._keys = keys
        self._fetched_at = self._clock()
        _log.info("jwks_fetched", issuer=self.issuer, keys=len(keys))

    async def _discover(self) -> str:
        problems: list[str] = []
        for url in discovery_urls(self.issuer):
            try:
                document = await self._fetch(url)
            except DocumentError as exc:
                problems.append(str(exc))
                continue
            if not isinstance(document, dict) or document.get("issuer") != self.issuer:
                problems.append(f"{url}: issuer is not {self.issuer}")
                continue
            uri = document.get("jwks_uri")
            if isinstance(uri, str):
                return uri
            problems.append(f"{url}: no jwks_uri")
        raise DocumentError("; ".join(problems))
