"""`SignInTokens`: the identity provider's access token of a person signed in through Giru's
broker, for a `token-exchange` upstream to exchange (RFC 8693) in their name.

In broker mode the caller presents a token Giru issued, which the identity provider cannot
exchange. What Giru keeps of the person's sign-in is the IdP's refresh token (sealed in their
refresh-token family, `OAuthStore`): it is used at the IdP's token endpoint (refresh_token grant)
for a fresh IdP access token, which becomes the exchange's `subject_token`. A rotated refresh
token is stored before the access token is used; one refresh at a time per person (the others
wait for its result); the access token is kept until shortly before it expires (the cached
path: a dict lookup and a clock read). Each refresh is audited (`credentials/token`, operation
`sign-in-refresh`, the person as actor; the exchange that follows names the IdP token by the
first 16 hex digits of its SHA-256). A refusal (the sign-in revoked at the IdP, the person
removed, signed out of Giru) is a `CredentialsUnavailableError` saying they must sign in again;
nothing else is sent upstream in its place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from giru.credentials.connections.tokens import Caller
from giru.credentials.oauth import TokenTrail
from giru.errors import CredentialsUnavailableError
from giru.identity.broker.relying_party import SignInError
from giru.identity.broker.server import Broker
from giru.identity.tokens import PresentedToken, token_hash

__all__ = ["SignInTokens"]

_MARGIN_S: Final = 30.0
"""An IdP access token this close to its expiry is refreshed rather than exchanged."""
_DEFAULT_LIFETIME_S: Final = 300.0
"""The lifetime assumed when the IdP's answer names none."""


class SignInTokens:
    """IdP access tokens of people signed in through `broker`, by their subject."""

    def __init__(
        self,
        broker: Broker,
        trail: TokenTrail | None = None,
        *,
        margin_s: float = _MARGIN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._broker = broker
        self._trail = trail or TokenTrail(None)
        self._margin = margin_s
        self._clock = clock
        self._tokens: dict[str, PresentedToken] = {}
        self._refreshing: dict[str, asyncio.Future[PresentedToken]] = {}

    def peek(self, caller: Caller) -> PresentedToken | None:
        """The IdP access token kept for `caller`, fresh or not (None: none kept)."""
        return self._tokens.get(caller.subject)

    async def subject_token(self, server: str, caller: Caller) -> PresentedToken:
        """A fresh IdP access token of `caller` (refreshed at the IdP when none is kept or it
        is about to expire).

        Raises:
            CredentialsUnavailableError: the person has no sign-in with an IdP grant, or the IdP
                refused it (the reason says they must sign in again).
        """
        kept = self._tokens.get(caller.subject)
        if kept is not None and kept.expires_at - self._margin > self._clock():
            return kept
        running = self._refreshing.get(caller.subject)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[PresentedToken] = asyncio.get_running_loop().create_future()
        self._refreshing[caller.subject] = future
        try:
            token = await self._refresh(server, caller)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._refreshing.pop(caller.subject, None)
        self._tokens[caller.subject] = token
        future.set_result(token)
        return token

    def forget(self, caller: Caller) -> None:
        """The upstream refused what `caller`'s IdP token was exchanged for: refresh next time."""
        self._tokens.pop(caller.subject, None)

    async def _refresh(self, server: str, caller: Caller) -> PresentedToken:
        return await self._trail.audited(
            lambda: self._refreshed(server, caller),
            actor=caller.actor,
            server=server,
            operation="sign-in-refresh",
            grant="refresh_token",
        )

    async def _refreshed(self, server: str, caller: Caller) -> PresentedToken:
        broker = self._broker
        now = datetime.fromtimestamp(self._clock(), UTC)
        family = await broker.store.sign_in_of(caller.subject, now)
        if family is None or family.idp_refresh_token is None:
            raise CredentialsUnavailableError(
                f"server {server!r} takes a token exchanged at the identity provider for "
                f"{caller.label}, who has no sign-in through Giru that the identity provider "
                "can refresh (signed out, revoked or expired): they must sign in again"
            )
        try:
            if broker.idp is None:
                raise SignInError("no identity provider is configured any more")
            refreshed = await broker.idp.refresh(family.idp_refresh_token, family.person)
        except SignInError as exc:
            raise CredentialsUnavailableError(
                f"server {server!r} takes a token exchanged at the identity provider for "
                f"{caller.label}, and the identity provider no longer accepts their sign-in "
                f"({exc.message[:200]}): they must sign in again"
            ) from exc
        # the rotated refresh token is kept before its access token is used
        await broker.store.refreshed(family.id, refreshed.person, refreshed.refresh_token, now)
        if refreshed.access_token is None:
            raise CredentialsUnavailableError(
                f"server {server!r} takes a token exchanged at the identity provider for "
                f"{caller.label}, and the identity provider's refresh returned no access token"
            )
        lifetime = refreshed.expires_in or _DEFAULT_LIFETIME_S
        return PresentedToken(
            refreshed.access_token,
            token_hash(refreshed.access_token),
            self._clock() + lifetime,
        )
