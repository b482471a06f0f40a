"""`UpstreamCredentials`: what Giru presents to an upstream, resolved from the secret store.

A server whose `spec.auth` is `static` gets its secret's entry (after the prefix) as a header
or an environment variable of its child. `oauth2-client-credentials` (and `token-exchange`)
specs are resolved by `UpstreamTokens` (`grants.py`; `token-exchange` per calling person,
through `exchanged`), `mtls` specs by `ClientCertificates`
(`mtls.py`), both reading their secrets through `entry`. An entry is read from the secret's
backend on first use (audited: `secrets/read` for that server), then served from memory for
`ttl_s` seconds (one dict lookup and a clock read per call); after that, or after any
configuration change (`forget`), the next call reads it again, one read per secret however many
calls wait for it. A read that fails refuses the call with `credentials_unavailable` (fail
closed) and leaves every other server alone. The resolved spec stays the same object while the
value is the same, so the upstream pool keeps its sessions; a new value makes it reconnect with
the new one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import aiohttp

from giru.access.bootstrap import secrets_keys
from giru.credentials.connections.tokens import Caller
from giru.credentials.envelope import Keyring
from giru.credentials.grants import UpstreamTokens
from giru.credentials.mtls import ClientCertificates
from giru.credentials.oauth import (
    OAuthHttp,
    RedisTokens,
    SharedTokens,
    TokenCache,
    TokenTrail,
)
from giru.credentials.secretstore import AuditSink, SecretStore
from giru.errors import CredentialsUnavailableError, GiruError
from giru.settings import Settings
from giru.upstream.auth import MtlsAuth, OAuthClientAuth, SecretEntry
from giru.upstream.base import ServerSpec, UpstreamAuth

__all__ = ["UpstreamCredentials", "open_upstream_credentials"]

_FORBIDDEN: Final = frozenset("\r\n\x00")


@dataclass(slots=True)
class _Entry:
    entries: dict[str, str]
    expires: float


class UpstreamCredentials:
    """Resolves `ServerSpec.auth` into headers / env from a `SecretStore`, cached in memory."""

    def __init__(
        self,
        secrets: SecretStore,
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        tokens: Callable[[UpstreamCredentials], UpstreamTokens] | None = None,
    ) -> None:
        """`tokens` builds the OAuth token resolver over this object's secret reads (None:
        OAuth auth types fail with `credentials_unavailable`)."""
        self._secrets = secrets
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._reading: dict[str, asyncio.Future[_Entry]] = {}
        self._resolved: dict[str, tuple[ServerSpec, dict[str, str], ServerSpec]] = {}
        self.tokens = tokens(self) if tokens is not None else None
        self.certificates = ClientCertificates(self.entry)

    async def aclose(self) -> None:
        """Close the shared token store's connections (Redis), if any."""
        if self.tokens is not None and self.tokens.cache.shared is not None:
            await self.tokens.cache.shared.aclose()

    @property
    def shared_tokens(self) -> SharedTokens | None:
        """The workers' shared token store and lock (Redis), when there is one."""
        return self.tokens.cache.shared if self.tokens is not None else None

    async def refused(self, spec: ServerSpec) -> None:
        """The upstream answered 401 to `spec`'s credential: an OAuth token is obtained anew
        on next use (for every worker); a secret is read again."""
        if isinstance(spec.auth, OAuthClientAuth) and self.tokens is not None:
            await self.tokens.refused(spec)
        elif isinstance(spec.auth, UpstreamAuth):
            self._cache.pop(spec.auth.secret, None)

    async def exchanged(self, spec: ServerSpec, caller: Caller | None) -> str:
        """The access token for `caller`'s calls to a `token-exchange` server (None: the one
        its tools are listed with).

        Raises:
            CredentialsUnavailableError: none can be had (the reason says why).
        """
        if self.tokens is None or not isinstance(spec.auth, OAuthClientAuth):
            raise CredentialsUnavailableError("OAuth upstream credentials are not set up")
        return await self.tokens.exchanged(spec, spec.auth, caller)

    async def exchange_refused(self, spec: ServerSpec, caller: Caller | None) -> None:
        """The upstream answered 401 to the token exchanged for `caller`: exchange again."""
        if self.tokens is not None and isinstance(spec.auth, OAuthClientAuth):
            await self.tokens.exchange_refused(spec, spec.auth, caller)

    def forget(self) -> None:
        """Read every secret again on its next use (the configuration changed: a secret may
        have a new version)."""
        self._cache.clear()

    async def resolve(self, spec: ServerSpec) -> ServerSpec:
        """`spec` with its secret in `headers` or `env` (itself when it has no `auth`).

        Raises:
            CredentialsUnavailableError: the secret cannot be read, lacks the entry, or holds
                a value that cannot be sent (a line break).
        """
        auth = spec.auth
        if auth is None:
            return spec
        if isinstance(auth, OAuthClientAuth):
            if self.tokens is None:
                raise CredentialsUnavailableError("OAuth upstream credentials are not set up")
            return await self.tokens.resolve(spec, auth)
        if isinstance(auth, MtlsAuth):
            return await self.certificates.resolve(spec, auth)
        entry = self._cache.get(auth.secret)
        if entry is None or self._clock() >= entry.expires:
            entry = await self._read(auth.secret, spec.name)
        resolved = self._resolved.get(spec.name)
        if resolved is not None and resolved[1] == entry.entries:
            if resolved[0] is spec:
                return resolved[2]
            if resolved[0] == spec:  # recompiled by a reload, unchanged: keep the connection
                self._resolved[spec.name] = (spec, resolved[1], resolved[2])
                return resolved[2]
        made = _with_secret(spec, auth, entry.entries)
        self._resolved[spec.name] = (spec, entry.entries, made)
        return made

    async def entry(self, ref: SecretEntry, server: str) -> str:
        """The value of one secret entry, read like `static` secrets (cached `ttl_s`).

        Raises:
            CredentialsUnavailableError: it cannot be read or the secret lacks the entry.
        """
        entry = self._cache.get(ref.secret)
        if entry is None or self._clock() >= entry.expires:
            entry = await self._read(ref.secret, server)
        value = entry.entries.get(ref.key)
        if value is None:
            raise CredentialsUnavailableError(f"secret {ref.secret!r} has no entry {ref.key!r}")
        return value

    async def _read(self, name: str, server: str) -> _Entry:
        reading = self._reading.get(name)
        if reading is not None:
            return await asyncio.shield(reading)
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._reading[name] = future
        try:
            record = await self._secrets.read(name, server=server)
            entries = await self._secrets.entries(record, server=server)
        except GiruError as exc:
            failure = (
                exc
                if isinstance(exc, CredentialsUnavailableError)
                else CredentialsUnavailableError(exc.message)
            )
            self._cache.pop(name, None)
            future.set_exception(failure)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise failure from exc
        finally:
            self._reading.pop(name, None)
        entry = _Entry(entries, self._clock() + self._ttl_s)
        self._cache[name] = entry
        future.set_result(entry)
        return entry


def _with_secret(spec: ServerSpec, auth: UpstreamAuth, entries: dict[str, str]) -> ServerSpec:
    value = entries.get(auth.key)
    if value is None:
        raise CredentialsUnavailableError(f"secret {auth.secret!r} has no entry {auth.key!r}")
    if _FORBIDDEN.intersection(value):
        raise CredentialsUnavailableError(
            f"secret {auth.secret!r} entry {auth.key!r} holds a line break or NUL; it cannot "
            "be sent (was a file stored with its newlines?)"
        )
    presented = auth.prefix + value
    if auth.env is not None:
        return dataclasses.replace(spec, env={**spec.env, auth.env: presented})
    return dataclasses.replace(
        spec, headers={**spec.headers, auth.header or "Authorization": presented}
    )


def open_upstream_credentials(
    settings: Settings,
    secrets: SecretStore,
    http: aiohttp.ClientSession,
    *,
    audit: AuditSink | None = None,
    node: str = "",
) -> UpstreamCredentials:
    """`UpstreamCredentials` as `settings` describe: OAuth tokens through `http` (the egress-
    guarded session), shared across workers in Redis when `redis_url` is set."""
    shared = None
    if settings.redis_url is not None:
        keyring = Keyring.from_text(secrets_keys(settings).values)
        shared = RedisTokens(settings.redis_url, keyring)

    def tokens(credentials: UpstreamCredentials) -> UpstreamTokens:
        return UpstreamTokens(
            OAuthHttp(http),
            TokenCache(shared=shared),
            credentials.entry,
            trail=TokenTrail(audit, node=node),
        )

    return UpstreamCredentials(secrets, ttl_s=settings.secrets.cache_ttl_s, tokens=tokens)
