"""`ConnectionTokens`: the access token a call to an OAuth upstream carries.

`shared` servers: the one shared connection, whoever calls. `perUser` servers: the caller's own
connection (the person signed in over OAuth). Tokens are served from memory while fresh; past
that, one caller per connection reads the kept tokens again (another worker may have refreshed
them; the read is audited as `secrets/read`) and refreshes them at the authorization server
when they are not fresh either (audited `connections/refresh`), the new ones kept before use;
with Redis, under a lock every worker takes, so one worker refreshes and the others read. When
another worker keeps or removes a connection, its notice (`ConnectionNotices`) makes `changed`
drop this process's copy, so the next call reads the kept tokens (or finds none).
A refresh keeps its result only if the connection's secret is still the version it read
(`ConnectionKeeper.unchanged`): a connection removed meanwhile stays removed (the refresh's
tokens are revoked), one made again meanwhile is used as made.
A connection that is missing, or whose refresh the authorization server refuses (it is then
marked `needs_reconnect`), raises `ConnectionRequiredError` with the URL where the person
connects; for a `shared` server only an admin connects it (`giru connect SERVER`).

An upstream's 401 to a token that looked fresh (`refused`) makes the next call refresh it once,
whatever its expiry says (a connection without a refresh token must be made again; one whose
server now names another authorization server too: its refresh token is never sent there). A 403
`insufficient_scope` (`step_up`) marks the connection `needs_reconnect` with the scopes the
upstream asked for, which the next connect asks for together with the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Final

from giru.credentials.connections.flows import ConnectionFlows
from giru.credentials.connections.keeper import ConnectionKeeper
from giru.credentials.connections.records import SHARED, Connection, secret_name
from giru.credentials.connections.trail import ConnectionTrail
from giru.credentials.oauth import SharedTokens, TokenCache, TokenEndpointError, TokenSet
from giru.errors import ConnectionRequiredError, UpstreamCredentialsError
from giru.identity import PresentedToken

__all__ = ["Caller", "ConnectionTokens"]

_MARGIN_S: Final = 60.0
_GATEWAY: Final = "gateway"
_MAX_NAMES: Final = 100_000


@dataclass(frozen=True, slots=True)
class Caller:
    """The person a call is for: subject (the key of their connections), label (email) and
    the access token their request presented (for `token-exchange` upstreams)."""

    subject: str
    label: str
    token: PresentedToken | None = field(default=None, compare=False, repr=False)

    @property
    def actor(self) -> str:
        return f"user:{self.label}"


class ConnectionTokens:
    def __init__(
        self,
        keeper: ConnectionKeeper,
        flows: ConnectionFlows,
        trail: ConnectionTrail,
        *,
        shared: SharedTokens | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`shared`: the token lock every worker takes (Redis) before reading and refreshing
        a connection's tokens, so one worker refreshes them and the others read the result."""
        self._shared = shared
        self._keeper = keeper
        self._flows = flows
        self._trail = trail
        self._clock = clock
        self._cache = TokenCache(margin_s=_MARGIN_S, clock=clock)
        self._urls: dict[tuple[str, str], tuple[float, str]] = {}
        self._refused: dict[str, str] = {}
        """Per connection key: the access token its upstream answered 401 to."""
        self._catalog: dict[str, str] = {}
        """Per perUser server: a person whose connection lists its tools."""
        self._named: dict[str, str] = {}
        """Per connection secret name: its key here (notices name connections by secret)."""

    def forget(self, server: str, subject: str) -> None:
        """Drop the cached tokens of a connection (it was made again, or removed)."""
        self._cache.forget(_key(server, subject))
        self._urls.pop((server, subject), None)

    def changed(self, name: str | None) -> None:
        """Another worker kept or removed the connection held in secret `name` (None: maybe
        any connection): drop its cached tokens, so the next call reads the kept ones."""
        if name is None:
            self._cache.forget()
            return
        key = self._named.get(name)
        if key is not None:
            self._cache.forget(key)

    async def refused(self, server: str, caller: Caller | None, token: str | None) -> None:
        """The upstream answered 401 to `token` (None: the one last served for `caller`): the
        next `token` refreshes the connection, even if the token looked fresh."""
        subject = self._subject(server, caller)
        if subject is None:
            return
        key = _key(server, subject)
        if token is None:
            cached = self._cache.peek(key)
            token = cached.access_token if cached is not None else None
        if token is not None:
            self._refused[key] = token
        self._cache.forget(key)
        spec, _ = self._keeper.oauth_of(server)
        if spec.url is not None:  # its authorization server may have moved: discover again
            self._keeper.discovery.forget(spec.url)

    async def step_up(
        self, server: str, caller: Caller | None, scopes: tuple[str, ...]
    ) -> UpstreamCredentialsError:
        """The upstream answered 403 `insufficient_scope` asking for `scopes`: the connection
        is marked `needs_reconnect` with them (asked for at the next connect, with the scopes
        it has); returns the error to answer the call with (the connect URL, for a person)."""
        subject = self._subject(server, caller)
        if subject is None:
            return ConnectionRequiredError(
                server, "it asks for more access", connect_url="", status="needs_reconnect"
            )
        who = caller if caller is not None else Caller(subject, subject)
        kept = await self._keeper.read(server, subject, actor=_GATEWAY)
        if kept is not None:
            wanted = tuple(dict.fromkeys((*kept.tokens.scope, *kept.wanted_scopes, *scopes)))
            again = replace(kept, status="needs_reconnect", wanted_scopes=wanted)
            await self._keeper.keep(again, actor=_GATEWAY)
            await self._trail.record(
                "step-up",
                actor=_GATEWAY,
                server=server,
                owner=kept.label,
                outcome="error",
                reason="the upstream answered insufficient_scope",
                details={"scopes": list(wanted)},
            )
        self.forget(server, subject)
        return self._required(server, who, "needs_reconnect", scopes=scopes)

    def _subject(self, server: str, caller: Caller | None) -> str | None:
        if not self.per_user(server):
            return SHARED
        return caller.subject if caller is not None else self._catalog.get(server)

    def per_user(self, server: str) -> bool:
        _, oauth = self._keeper.oauth_of(server)
        return oauth.connection == "perUser"

    async def token(self, server: str, caller: Caller | None) -> str:
        """The access token for a call to `server` by `caller` (None: no person).

        Raises:
            ConnectionRequiredError: there is no usable connection; its `connect_url` says
                where to make one ("" for a shared server or a caller who is not a person).
            CredentialsUnavailableError: the tokens or the authorization server are out of reach.
        """
        if not self.per_user(server):
            caller = Caller(SHARED, SHARED)
        elif caller is None:
            raise ConnectionRequiredError(
                server,
                f"{server!r} takes each person's own connection; sign in to Giru over OAuth",
                connect_url="",
                status="not_connected",
            )
        tokens = await self._tokens(server, caller)
        if caller.subject != SHARED:
            self._catalog[server] = caller.subject
        return tokens.access_token

    async def catalog_token(self, server: str) -> str:
        """A token to list `server`'s tools with: the shared connection, or (perUser) a
        connection someone made (the last one used in this process, else any connected one)."""
        if not self.per_user(server):
            return await self.token(server, None)
        subject = self._catalog.get(server)
        if subject is None:
            for kept in await self._keeper.list(server, actor=_GATEWAY):
                if kept.status == "connected":
                    subject = kept.subject
                    break
        if subject is None:
            raise ConnectionRequiredError(
                server, "nobody has connected it yet", connect_url="", status="not_connected"
            )
        return (await self._tokens(server, Caller(subject, subject))).access_token

    async def _tokens(self, server: str, caller: Caller) -> TokenSet:
        key = _key(server, caller.subject)
        cached = self._cache.peek(key)
        if cached is not None:
            return cached

        async def fetch(previous: TokenSet | None) -> TokenSet:
            if self._shared is None:
                return await obtain()
            async with self._shared.lock(key):  # unreachable: no refresh (tokens rotate)
                return await obtain()

        async def obtain() -> TokenSet:
            self._name(key, server, caller.subject)
            kept = await self._keeper.read(server, caller.subject, actor=_GATEWAY)
            if kept is None:
                raise self._required(server, caller, "not_connected")
            if kept.status == "needs_reconnect":
                raise self._required(server, caller, "needs_reconnect")
            refused = self._refused.get(key) == kept.tokens.access_token
            if not refused and kept.tokens.fresh(self._clock(), _MARGIN_S):
                self._refused.pop(key, None)  # refreshed meanwhile (another worker)
                return kept.tokens
            tokens = await self._refresh(kept, caller, refused=refused)
            self._refused.pop(key, None)
            return tokens

        return await self._cache.get(key, fetch)

    def _name(self, key: str, server: str, subject: str) -> None:
        if len(self._named) >= _MAX_NAMES:
            self._named.clear()  # only notices need it: the cache is dropped with it
            self._cache.forget()
        self._named.setdefault(secret_name(server, subject), key)

    async def _refresh(self, kept: Connection, caller: Caller, *, refused: bool) -> TokenSet:
        refresh_token = kept.tokens.refresh_token
        if refresh_token is None:
            if kept.tokens.usable(self._clock()) and not refused:
                return kept.tokens
            why = "refused by the upstream" if refused else "expired"
            await self._needs_reconnect(kept, f"{why}, and no refresh token was issued")
            raise self._required(kept.server, caller, "needs_reconnect")
        upstream = await self._keeper.upstream(kept.server)
        if upstream.found.server.issuer != kept.issuer:  # never its refresh token to another
            await self._needs_reconnect(kept, "the server's authorization server changed")
            raise self._required(kept.server, caller, "needs_reconnect")
        try:
            tokens = await self._keeper.token_endpoint(upstream).refresh(
                refresh_token, resource=kept.resource
            )
        except TokenEndpointError as exc:
            if exc.status is None or exc.status >= 500:  # the server is down: try again later
                await self._audit_refresh(kept, "error", exc.message)
                raise
            moved = await self._moved(kept, caller, None)
            if moved is not None:
                return moved
            await self._needs_reconnect(kept, exc.message)
            raise self._required(kept.server, caller, "needs_reconnect") from exc
        moved = await self._moved(kept, caller, tokens)
        if moved is not None:
            return moved
        await self._keeper.keep(kept.refreshed(tokens, self._clock()), actor=_GATEWAY)
        await self._audit_refresh(kept, "allowed", None)
        return tokens

    async def _moved(
        self, kept: Connection, caller: Caller, tokens: TokenSet | None
    ) -> TokenSet | None:
        """None when `kept` is still the stored connection (the refresh may keep its result).
        Otherwise the connection was removed or made again (another worker, another call)
        while its refresh was under way, and keeping would bring the old one back: removed,
        the refresh's `tokens` are revoked (best effort) and the caller must connect; made
        again (or refreshed elsewhere), the kept connection's tokens serve the call."""
        unchanged = await self._keeper.unchanged(kept)
        if unchanged:
            return None
        again = None
        if unchanged is False:
            again = await self._keeper.read(kept.server, kept.subject, actor=_GATEWAY)
        if again is None:
            if tokens is not None:
                await self._flows.revoke(replace(kept, tokens=tokens))
            await self._audit_refresh(kept, "error", "the connection was removed meanwhile")
            raise self._required(kept.server, caller, "not_connected")
        await self._audit_refresh(kept, "error", "the connection changed meanwhile")
        if again.status == "needs_reconnect":
            raise self._required(kept.server, caller, "needs_reconnect")
        return again.tokens

    async def _needs_reconnect(self, kept: Connection, reason: str) -> None:
        await self._keeper.keep(replace(kept, status="needs_reconnect"), actor=_GATEWAY)
        await self._audit_refresh(kept, "error", reason, status="needs_reconnect")

    async def _audit_refresh(
        self, kept: Connection, outcome: str, reason: str | None, *, status: str | None = None
    ) -> None:
        details = {"status": status} if status is not None else {}
        await self._trail.record(
            "refresh",
            actor=_GATEWAY,
            server=kept.server,
            owner=kept.label,
            outcome=outcome,
            reason=reason,
            details=details,
        )

    def _required(
        self, server: str, caller: Caller, status: str, *, scopes: tuple[str, ...] = ()
    ) -> UpstreamCredentialsError:
        again = "must be connected again" if status == "needs_reconnect" else "is not connected"
        if scopes:
            again = f"asks for more access ({' '.join(scopes)}) and {again}"
        if caller.subject == SHARED:
            message = f"{server!r} {again}: an admin connects it with `giru connect {server}`"
            return ConnectionRequiredError(server, message, connect_url="", status=status)
        url = self._connect_url(server, caller)
        message = f"your account at {server!r} {again}: open {url} to connect it, then retry"
        return ConnectionRequiredError(server, message, connect_url=url, status=status)

    def _connect_url(self, server: str, caller: Caller) -> str:
        now = self._clock()
        made = self._urls.get((server, caller.subject))
        if made is not None and made[0] > now:
            return made[1]
        state = self._flows.begin(
            server, subject=caller.subject, label=caller.label, actor=caller.actor
        )
        url = self._flows.connect_url(state)
        self._urls[(server, caller.subject)] = (now + 300.0, url)
        return url


def _key(server: str, subject: str) -> str:
    return f"conn:{server}:{subject}"
