"""Upstream sessions: one shared per (server, era), or one per client session for servers with
`isolation: session`; connected lazily, reconnected after failure.

Messages an upstream sends outside any request are handled here: list changes refresh the
catalog; a server->client request goes to the owning client of an isolated session, and is
refused on a shared one (no way to tell whom it is for).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from giru.credentials.connections import Caller
from giru.credentials.oauth import parse_challenge
from giru.egress.lean import LeanClient
from giru.errors import (
    ConnectionRequiredError,
    CredentialsUnavailableError,
    UpstreamCredentialsError,
    UpstreamError,
    UpstreamUnavailableError,
)
from giru.mcp import jsonrpc
from giru.mcp.versions import LATEST_LEGACY_VERSION, LATEST_MODERN_VERSION, Era, era_of
from giru.proxy.resource_watch import ResourceWatch
from giru.telemetry.metrics import Metrics
from giru.upstream import connect
from giru.upstream.auth import OAuthClientAuth
from giru.upstream.base import (
    RESTARTED,
    ClientIdentity,
    MessageSink,
    ResourceWatcher,
    ServerSpec,
    UpstreamSession,
)

__all__ = [
    "ConnectionSource",
    "Connector",
    "CredentialResolver",
    "Owner",
    "UpstreamPool",
    "exchanges",
]

_log = structlog.get_logger(__name__)
_RESTARTED = RESTARTED["method"]
_RETRY_AFTER_S: Final = 1.0
GATEWAY_CAPABILITIES: Final[dict[str, Any]] = {"sampling": {}, "elicitation": {}}

ListChanged = Callable[[str, str], Awaitable[None]]
"""(server, notification method) -> None"""
_ASKING: Final = frozenset({"elicitation", "roots", "sampling"})
"""Client capabilities that let a server ask the client something during a call."""
_Key = tuple[str, Era, frozenset[str] | None]
"""A shared session: server, era, and what the upstream may ask (None: Giru's own set)."""


def _asking(declared: Mapping[str, Any] | None) -> frozenset[str] | None:
    return None if declared is None else _ASKING.intersection(declared)


@dataclass(frozen=True, slots=True)
class Owner:
    """A client session that gets its own upstream sessions on `isolation: session` servers."""

    id: str
    identity: ClientIdentity
    sink: MessageSink
    """Where the upstream's unsolicited messages for this client go (its GET stream)."""


class Connector(Protocol):
    async def __call__(
        self,
        spec: ServerSpec,
        identity: ClientIdentity,
        *,
        on_unsolicited: MessageSink,
        http: LeanClient,
    ) -> UpstreamSession: ...


class CredentialResolver(Protocol):
    """Puts a server's secret into its spec (`giru.credentials.UpstreamCredentials`)."""

    async def resolve(self, spec: ServerSpec) -> ServerSpec:
        """Raises `CredentialsUnavailableError` when the secret cannot be read."""
        ...

    async def refused(self, spec: ServerSpec) -> None:
        """The upstream answered 401 to the credential resolved into `spec` (a token that is
        no longer good): obtain a new one on next use."""
        ...

    async def exchanged(self, spec: ServerSpec, caller: Caller | None) -> str:
        """The token exchanged for `caller` at a `token-exchange` server (None: the one its
        tools are listed with); raises `CredentialsUnavailableError`."""
        ...

    async def exchange_refused(self, spec: ServerSpec, caller: Caller | None) -> None:
        """The upstream answered 401 to the token exchanged for `caller`."""
        ...


def _insufficient_scope(exc: UpstreamError) -> tuple[str, ...] | None:
    """The scopes a 403's `insufficient_scope` challenge asks for (None: not such a 403)."""
    challenge = parse_challenge(exc.data.get("challenge"))
    if challenge is None or challenge.error != "insufficient_scope" or not challenge.scope:
        return None
    return challenge.scope


def exchanges(spec: ServerSpec | None) -> bool:
    """Whether `spec`'s calls carry a token exchanged for the calling person (`token-exchange`)."""
    return (
        spec is not None
        and isinstance(spec.auth, OAuthClientAuth)
        and spec.auth.grant == "token_exchange"
    )


def _refused_credentials(exc: Exception) -> bool:
    return isinstance(exc, UpstreamError) and exc.data.get("status") == 401


class ConnectionSource(Protocol):
    """Access tokens from people's OAuth connections (`giru.credentials.ConnectionTokens`)."""

    async def token(self, server: str, caller: Caller | None) -> str:
        """Raises `CredentialsUnavailableError` (`ConnectionRequiredError`: none to use)."""
        ...

    async def catalog_token(self, server: str) -> str: ...

    async def refused(self, server: str, caller: Caller | None, token: str | None) -> None:
        """The upstream answered 401 to `token`: refresh it on next use."""
        ...

    async def step_up(
        self, server: str, caller: Caller | None, scopes: tuple[str, ...]
    ) -> UpstreamCredentialsError:
        """The upstream asked for `scopes` more (403): the error that asks to reconnect."""
        ...


class UpstreamPool:
    def __init__(
        self,
        specs: Mapping[str, ServerSpec],
        *,
        http: LeanClient,
        metrics: Metrics,
        on_list_changed: ListChanged,
        connector: Connector = connect,
        credentials: CredentialResolver | None = None,
        connections: ConnectionSource | None = None,
    ) -> None:
        self._connector = connector
        self._credentials = credentials
        self.connections = connections
        self._connected: dict[tuple[str, str, Era], tuple[str, UpstreamSession]] = {}
        """Sessions of OAuth servers per (server, whose connection, era), with their token."""
        self._connected_locks: dict[tuple[str, str, Era], asyncio.Lock] = {}
        self._presented: dict[str, ServerSpec] = {}
        """Per server with `auth`: the resolved spec its open sessions were connected with."""
        self._specs = dict(specs)
        self._http = http
        self._metrics = metrics
        self._on_list_changed = on_list_changed
        self._sessions: dict[_Key, UpstreamSession] = {}
        self._owned: dict[tuple[str, str], UpstreamSession] = {}
        self._owned_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}
        self._failed_at: dict[_Key, tuple[float, str]] = {}
        """When the last connect failed, and why."""
        self.watch = ResourceWatch()
        """Client sessions' resource subscriptions, for the updates shared sessions deliver."""

    @property
    def specs(self) -> Mapping[str, ServerSpec]:
        return self._specs

    async def session(
        self, server: str, era: Era = "legacy", declared: Mapping[str, Any] | None = None
    ) -> UpstreamSession:
        """The shared session with `server` in `era` when it speaks it (the connector falls
        back to the other era otherwise). `declared`: the capabilities the calling client
        declared on this request (a 2026-07-28 caller): the upstream is told exactly those
        that let it ask the client something, from a session kept per such set, so a server
        that checks capabilities behaves as it would for that client (HTTP upstreams; a stdio
        server is one process whose state a second one would not share). None: Giru's own."""
        spec = self._specs.get(server)
        if spec is not None and spec.transport != "streamable-http":
            era = "legacy"  # stdio and HTTP+SSE upstreams speak the legacy era only
        if spec is not None and spec.transport == "stdio":
            declared = None  # one process holds the server's state: never a second one
        if spec is not None and (spec.oauth is not None or exchanges(spec)):
            return await self.connected_session(server, None, era)
        key = (server, era, _asking(declared))
        existing = self._sessions.get(key)
        if spec is None or spec.auth is None:
            if existing is not None:
                return existing
        else:
            spec = await self._resolve(spec)  # every call: the secret may have expired
            if existing is not None and self._presented.get(server) is spec:
                return existing
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            existing = self._sessions.get(key)
            if existing is not None and (spec is None or spec.auth is None):
                return existing
            if existing is not None and self._presented.get(server) is spec:
                return existing
            if existing is not None:  # a new value of its secret: reconnect with it
                await self._drop(server)
            return await self._connect(key, spec)

    def per_person(self, server: str) -> bool:
        """Whether `server`'s sessions are each person's own: `perUser` connections, and
        tokens exchanged for the caller (`token-exchange`)."""
        spec = self._specs.get(server)
        if spec is None:
            return False
        return (spec.oauth is not None and spec.oauth.connection == "perUser") or exchanges(spec)

    def without_person(self, server: str) -> UpstreamCredentialsError:
        """The refusal of a call to a per-person server by a caller who is no person (an API
        key): it never gets someone else's token."""
        if exchanges(self._specs.get(server)):
            return UpstreamCredentialsError(
                server,
                f"credentials unavailable: {server!r} takes a token exchanged for the calling "
                "person's own access token, and this caller presented none (an API key is not "
                "a person's token)",
            )
        return ConnectionRequiredError(
            server,
            f"{server!r} takes each person's own connection; sign in to Giru over OAuth",
            connect_url="",
            status="not_connected",
        )

    async def connected_session(
        self, server: str, caller: Caller | None, era: Era = "legacy"
    ) -> UpstreamSession:
        """A session with an OAuth server carrying `caller`'s token: their connection's, or
        one exchanged for theirs (None: the shared connection, or for a per-person server the
        token its tools are listed with)."""
        spec = self._specs.get(server)
        if spec is None or (spec.oauth is None and not exchanges(spec)):
            raise UpstreamUnavailableError(server, f"no OAuth server named {server!r}")
        if spec.oauth is None:
            token = await self._exchanged(spec, caller)
        else:
            token = await self._token(server, caller)
        key = (server, caller.subject if caller is not None else "", era)
        held = self._connected.get(key)
        if held is not None and held[0] == token:
            return held[1]
        async with self._connected_locks.setdefault(key, asyncio.Lock()):
            held = self._connected.get(key)
            if held is not None and held[0] == token:
                return held[1]
            if held is not None:  # refreshed or reconnected: a session with the new token
                self._connected.pop(key, None)
                await self._close(held[1])
            headers = {k: v for k, v in spec.headers.items() if k.lower() != "authorization"}
            headers["Authorization"] = f"Bearer {token}"
            session = await self._connect_to(dataclasses.replace(spec, headers=headers), era)
            self._connected[key] = (token, session)
            return session

    async def refused(
        self, server: str, caller: Caller | None, session: UpstreamSession, exc: UpstreamError
    ) -> bool:
        """`session` answered a call with `exc`; True when it refused the call's credential
        (401) and a new one is ready for one retry (a connection's token refreshed, a client
        credentials token obtained anew). A 403 `insufficient_scope` from an OAuth connection
        raises the error that asks for the connection again with the bigger scope (step-up).
        """
        status = exc.data.get("status")
        spec = self._specs.get(server)
        if spec is None or status not in (401, 403):
            return False
        if spec.oauth is not None and self.connections is not None:
            if status == 403:
                scopes = _insufficient_scope(exc)
                if scopes is None:
                    return False
                raise await self.connections.step_up(server, caller, scopes)
            token = await self._drop_connected_session(session)
            await self.connections.refused(server, caller, token)
            return True
        if status == 401 and exchanges(spec) and self._credentials is not None:
            await self._drop_connected_session(session)
            await self._credentials.exchange_refused(spec, caller)
            return True
        if status == 401 and isinstance(spec.auth, OAuthClientAuth) and self._credentials:
            await self._credentials.refused(spec)
            return True
        return False

    async def _drop_connected_session(self, session: UpstreamSession) -> str | None:
        """Close the OAuth-connection session `session` (its token was refused): its token."""
        for key, (token, held) in list(self._connected.items()):
            if held is session:
                del self._connected[key]
                await self._close(session)
                return token
        return None

    async def _token(self, server: str, caller: Caller | None) -> str:
        if self.connections is None:
            raise UpstreamCredentialsError(server, "no secret store to keep connections in")
        try:
            if caller is None:
                return await self.connections.catalog_token(server)
            return await self.connections.token(server, caller)
        except UpstreamCredentialsError:
            raise
        except CredentialsUnavailableError as exc:
            _log.warning("upstream_connection_unavailable", server=server, error=exc.message)
            raise UpstreamCredentialsError(
                server, f"credentials unavailable: {exc.message}"
            ) from exc

    async def _exchanged(self, spec: ServerSpec, caller: Caller | None) -> str:
        if self._credentials is None:
            raise UpstreamCredentialsError(spec.name, "no secret store to read credentials from")
        try:
            return await self._credentials.exchanged(spec, caller)
        except CredentialsUnavailableError as exc:
            _log.warning("upstream_exchange_unavailable", server=spec.name, error=exc.message)
            raise UpstreamCredentialsError(
                spec.name, f"credentials unavailable: {exc.message}"
            ) from exc

    async def _connect_to(self, spec: ServerSpec, era: Era) -> UpstreamSession:
        version = LATEST_MODERN_VERSION if era == "modern" else LATEST_LEGACY_VERSION
        identity = ClientIdentity(capabilities=GATEWAY_CAPABILITIES, protocol_version=version)
        try:
            session = await self._connector(
                spec, identity, on_unsolicited=self._unsolicited_sink(spec.name), http=self._http
            )
        except Exception as exc:
            message = exc.message if isinstance(exc, UpstreamError) else "upstream is unavailable"
            _log.warning("upstream_connect_failed", server=spec.name, error=str(exc)[:300])
            if isinstance(exc, UpstreamUnavailableError):
                raise
            raise UpstreamUnavailableError(spec.name, message) from exc
        self._metrics.upstreams.reachable(spec.name, answered=True)
        return session

    async def _resolve(self, spec: ServerSpec) -> ServerSpec:
        if self._credentials is None:
            raise UpstreamCredentialsError(spec.name, "no secret store to read credentials from")
        try:
            return await self._credentials.resolve(spec)
        except CredentialsUnavailableError as exc:
            _log.warning("upstream_credentials_unavailable", server=spec.name, error=exc.message)
            raise UpstreamCredentialsError(
                spec.name, f"credentials unavailable: {exc.message}"
            ) from exc

    async def _drop(self, server: str) -> None:
        """Close every session with `server` (shared and owned)."""
        self._presented.pop(server, None)
        for key in [k for k in self._sessions if k[0] == server]:
            session = self._sessions.pop(key)
            if session not in self._sessions.values():
                await self._close(session)
        for owned in [k for k in self._owned if k[0] == server]:
            await self._close(self._owned.pop(owned))
        await self._drop_connected({server})

    async def _drop_connected(self, servers: set[str]) -> None:
        for key in [k for k in self._connected if k[0] in servers]:
            await self._close(self._connected.pop(key)[1])

    async def _connect(self, key: _Key, spec: ServerSpec | None) -> UpstreamSession:
        server, era, asking = key
        if spec is None:
            raise UpstreamUnavailableError(server, f"no server named {server!r}")
        failed = self._failed_at.get(key)
        if failed is not None and time.monotonic() - failed[0] < _RETRY_AFTER_S:
            raise UpstreamUnavailableError(server, f"connect failed just now: {failed[1]}")
        version = LATEST_MODERN_VERSION if era == "modern" else LATEST_LEGACY_VERSION
        capabilities = GATEWAY_CAPABILITIES if asking is None else {c: {} for c in sorted(asking)}
        identity = ClientIdentity(capabilities=capabilities, protocol_version=version)
        try:
            session = await self._connector(
                spec, identity, on_unsolicited=self._unsolicited_sink(server), http=self._http
            )
        except Exception as exc:
            # an upstream that answers garbage or a redirect says so; anything else stays vague
            message = exc.message if isinstance(exc, UpstreamError) else "upstream is unavailable"
            self._failed_at[key] = (time.monotonic(), message)
            self._metrics.upstreams.reachable(server, answered=False)
            _log.warning("upstream_connect_failed", server=server, error=str(exc)[:300])
            if _refused_credentials(exc) and self._credentials is not None:
                await self._credentials.refused(spec)  # a new token after the retry pause
            if isinstance(exc, UpstreamUnavailableError):
                raise
            raise UpstreamUnavailableError(server, message) from exc
        self._failed_at.pop(key, None)
        self._metrics.upstreams.reachable(server, answered=True)
        if spec.auth is not None:
            self._presented[server] = spec
        actual: Era = "modern" if era_of(session.protocol_version) == "modern" else "legacy"
        existing = self._sessions.get((server, actual, asking))
        if actual != era and existing is not None:
            await self._close(session)  # the server only speaks `actual`: one session is enough
            session = existing
        self._sessions[key] = session
        self._sessions[(server, actual, asking)] = session
        return session

    def isolated(self, server: str) -> bool:
        spec = self._specs.get(server)
        return spec is not None and spec.isolation == "session"

    async def owned_session(self, server: str, owner: Owner) -> UpstreamSession:
        """`owner`'s own session with an `isolation: session` server (same capabilities)."""
        key = (server, owner.id)
        spec = self._specs.get(server)
        if spec is not None and spec.auth is not None:
            spec = await self._resolve(spec)
            if self._presented.get(server) not in (None, spec):
                await self._drop(server)
        existing = self._owned.get(key)
        if existing is not None:
            return existing
        async with self._owned_locks.setdefault(key, asyncio.Lock()):
            existing = self._owned.get(key)
            if existing is not None:
                return existing
            if spec is None:
                raise UpstreamUnavailableError(server, f"no server named {server!r}")
            try:
                session = await self._connector(
                    spec,
                    owner.identity,
                    on_unsolicited=self._owner_sink(server, owner),
                    http=self._http,
                )
            except UpstreamUnavailableError:
                raise
            except Exception as exc:
                _log.warning("upstream_connect_failed", server=server, error=str(exc)[:300])
                raise UpstreamUnavailableError(server, "upstream is unavailable") from exc
            if spec.auth is not None:
                self._presented[server] = spec
            self._owned[key] = session
            return session

    async def notify_owner(self, owner_id: str, method: str, params: dict[str, Any] | None) -> None:
        """Pass a client's notification (e.g. roots/list_changed) to its own upstream sessions."""
        for (_, owner), session in list(self._owned.items()):
            if owner == owner_id:
                try:
                    await session.notify(method, params)
                except UpstreamError as exc:
                    _log.info("owner_notify_failed", server=session.server, reason=exc.code)

    async def close_owner(self, owner_id: str) -> None:
        """Close every upstream session a client session owned (it ended)."""
        for server in self.watch.forget(owner_id):
            await self.rewatch(server)
        for key in [k for k in self._owned if k[1] == owner_id]:
            session = self._owned.pop(key)
            await self._close(session)
        for key in [k for k in self._owned_locks if k[1] == owner_id]:
            del self._owned_locks[key]

    async def rewatch(self, server: str) -> bool:
        """Tell `server`'s 2026-07-28 sessions which resources clients watch now; False when it
        has none (a legacy upstream takes `resources/subscribe` itself)."""
        watched = False
        uris = self.watch.uris(server)
        for key, session in list(self._sessions.items()):
            if key[0] == server and isinstance(session, ResourceWatcher):
                try:
                    watched = await session.watch_resources(uris) or watched
                except UpstreamError as exc:
                    _log.info("rewatch_failed", server=server, reason=exc.code)
        return watched

    def _owner_sink(self, server: str, owner: Owner) -> MessageSink:
        async def sink(message: dict[str, Any]) -> dict[str, Any] | None:
            method = message.get("method", "")
            if "id" not in message and (method.endswith("/list_changed") or method == _RESTARTED):
                await self._on_list_changed(server, method)
                if method == _RESTARTED:
                    return None
            return await owner.sink(message)

        return sink

    def _unsolicited_sink(self, server: str) -> MessageSink:
        async def sink(message: dict[str, Any]) -> dict[str, Any] | None:
            method = message.get("method", "")
            if "id" not in message:
                if method.endswith("/list_changed") or method == _RESTARTED:
                    await self._on_list_changed(server, method)
                elif method == "notifications/resources/updated":
                    await self.watch.deliver(server, message)
                return None
            if method == "ping":
                return jsonrpc.result_response(message["id"], {})
            return jsonrpc.error_response(
                message["id"], jsonrpc.METHOD_NOT_FOUND, "no client to route this request to"
            )

        return sink

    async def update(self, specs: Mapping[str, ServerSpec]) -> set[str]:
        """Adopt new specs; sessions of changed or removed servers close. Returns changed names."""
        changed = {
            n for n in specs.keys() | self._specs.keys() if specs.get(n) != self._specs.get(n)
        }
        self._specs = dict(specs)
        for server in changed:
            self._presented.pop(server, None)
        for key in [k for k in self._sessions.keys() | self._failed_at.keys() if k[0] in changed]:
            self._failed_at.pop(key, None)
            session = self._sessions.pop(key, None)
            if session is not None and session not in self._sessions.values():
                await self._close(session)
        for owned in [k for k in self._owned if k[0] in changed]:
            await self._close(self._owned.pop(owned))
        await self._drop_connected(changed)
        return {name for name in changed if name in specs}

    async def _close(self, session: UpstreamSession) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(session.aclose()), timeout=10)
        except Exception as exc:  # noqa: BLE001 - closing must go on for the others
            _log.warning("upstream_close_failed", server=session.server, error=str(exc))

    async def aclose(self) -> None:
        sessions = list({id(s): s for s in self._sessions.values()}.values())
        sessions += list(self._owned.values())
        sessions += [held[1] for held in self._connected.values()]
        self._sessions = {}
        self._owned = {}
        self._connected = {}
        for session in sessions:
            await self._close(session)
