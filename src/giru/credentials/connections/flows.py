"""`ConnectionFlows`: a person connects an upstream in a browser, and disconnects it.

`begin` seals a flow `state` for (server, person); `authorization_url` turns it into the
authorization request (PKCE S256, RFC 8707 `resource`, the scopes) at the server's authorization
server; the browser comes back to `/oauth/callback`, where `finish` checks the state (Giru's,
unaltered, unexpired, unused), the `iss` parameter (RFC 9207) when the server sends or promises
it, redeems the code with the verifier and keeps the tokens in the secret store. `disconnect`
revokes the tokens at the authorization server when it offers revocation (RFC 7009) and forgets
them. Each of these is audited (`connections/connect`, `connections/disconnect`).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlencode

import structlog

from giru.credentials.connections.keeper import ConnectionKeeper
from giru.credentials.connections.records import Connection
from giru.credentials.connections.states import FlowState, FlowStates, StateError
from giru.credentials.connections.trail import ConnectionTrail
from giru.credentials.oauth import OAuthError
from giru.errors import CredentialsUnavailableError, GiruError, ValidationError

__all__ = ["CONNECT_PATH", "ConnectionFlows"]

CONNECT_PATH: Final = "/oauth/connect"
_log = structlog.get_logger(__name__)


class ConnectionFlows:
    def __init__(
        self,
        keeper: ConnectionKeeper,
        trail: ConnectionTrail,
        *,
        forget: Callable[[str, str], None],
        on_connected: Callable[[str], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`forget(server, subject)`: drop what calls cached of that connection;
        `on_connected(server)`: a connection was made (list the server's tools again)."""
        self._keeper = keeper
        self._trail = trail
        self._forget = forget
        self._on_connected = on_connected
        self._clock = clock
        self.states = FlowStates(keeper.secrets.derived_key, clock=clock)

    def begin(self, server: str, *, subject: str, label: str, actor: str) -> str:
        """A sealed state for a new flow (checks that `server` takes connections)."""
        self._keeper.oauth_of(server)
        state, _ = self.states.new(server, subject, label, actor)
        return state

    def connect_url(self, state: str) -> str:
        """Giru's own page that starts the flow `state` holds (for URL elicitations)."""
        return f"{self._keeper.base_url}{CONNECT_PATH}?{urlencode({'state': state})}"

    async def authorization_url(self, state: str) -> str:
        """The authorization request for the flow `state` holds (`StateError` if not ours)."""
        flow = self.states.open(state)
        upstream = await self._keeper.upstream(flow.server)
        server = upstream.found.server
        if server.authorization_endpoint is None:
            raise CredentialsUnavailableError(f"{server.issuer} has no authorization_endpoint")
        methods = server.code_challenge_methods_supported
        if methods and "S256" not in methods:
            raise CredentialsUnavailableError(f"{server.issuer} does not support PKCE S256")
        verifier = self.states.verifier(flow)
        query = {
            "response_type": "code",
            "client_id": upstream.client.client_id,
            "redirect_uri": self._keeper.registration.redirect_uri,
            "state": state,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
            "resource": upstream.found.resource,
        }
        scopes = await self._scopes(flow, upstream.scopes)
        if scopes:
            query["scope"] = " ".join(scopes)
        joiner = "&" if "?" in server.authorization_endpoint else "?"
        return server.authorization_endpoint + joiner + urlencode(query)

    async def _scopes(self, flow: FlowState, scopes: tuple[str, ...]) -> tuple[str, ...]:
        """`scopes` and those the upstream asked the flow's connection for (step-up): the
        union, in order."""
        kept = await self._keeper.read(flow.server, flow.subject, actor=flow.actor)
        if kept is None or not kept.wanted_scopes:
            return scopes
        return tuple(dict.fromkeys((*scopes, *kept.wanted_scopes)))

    async def start(self, server: str, *, subject: str, label: str, actor: str) -> str:
        """`begin` and `authorization_url` at once: the URL to open in a browser."""
        return await self.authorization_url(
            self.begin(server, subject=subject, label=label, actor=actor)
        )

    async def finish(
        self, state: str, *, code: str | None, iss: str | None, error: str | None
    ) -> Connection:
        """The callback: the connection made (kept), or an error (audited, nothing kept).

        Raises:
            StateError: the state is not Giru's, was altered, expired or was already used.
            ValidationError: the authorization server answered an error or no code.
            CredentialsUnavailableError: discovery, registration or the token request failed.
        """
        flow = self.states.open(state)
        try:
            self.states.use(flow)
            connection = await self._redeem(flow, code, iss, error)
        except GiruError as exc:
            await self._trail.record(
                "connect",
                actor=flow.actor,
                server=flow.server,
                owner=flow.label,
                outcome="bad_request" if isinstance(exc, ValidationError) else "error",
                reason=exc.message,
            )
            raise
        await self._trail.record(
            "connect",
            actor=flow.actor,
            server=flow.server,
            owner=flow.label,
            details={"scopes": list(connection.tokens.scope), "issuer": connection.issuer},
        )
        if self._on_connected is not None:
            await self._on_connected(flow.server)
        return connection

    async def _redeem(
        self, flow: FlowState, code: str | None, iss: str | None, error: str | None
    ) -> Connection:
        if error is not None:
            raise ValidationError(f"the authorization server answered {error[:100]!r}")
        if not code:
            raise ValidationError("the authorization server sent no code")
        upstream = await self._keeper.upstream(flow.server)
        server = upstream.found.server
        if iss is not None and iss != server.issuer:
            raise StateError(f"the response names issuer {iss[:200]!r}, not {server.issuer!r}")
        if iss is None and server.authorization_response_iss_parameter_supported:
            raise StateError("the response lacks the iss parameter its server promises")
        kept = await self._keeper.read(flow.server, flow.subject, actor=flow.actor)
        if kept is not None and kept.state_nonce == flow.nonce:
            raise StateError("this sign-in was already completed; connect again")
        tokens = await self._keeper.token_endpoint(upstream).authorization_code(
            code,
            self._keeper.registration.redirect_uri,
            self.states.verifier(flow),
            resource=upstream.found.resource,
        )
        connection = Connection(
            server=flow.server,
            subject=flow.subject,
            label=flow.label,
            issuer=server.issuer,
            client_id=upstream.client.client_id,
            resource=upstream.found.resource,
            tokens=tokens,
            connected_at=self._clock(),
            state_nonce=flow.nonce,
        )
        await self._keeper.keep(connection, actor=flow.actor)
        self._forget(flow.server, flow.subject)
        return connection

    async def disconnect(self, server: str, subject: str, *, actor: str) -> bool:
        """Revoke (when offered) and forget `subject`'s connection; False when there was none."""
        kept = await self._keeper.read(server, subject, actor=actor)
        if kept is None:
            return False
        revoked = await self.revoke(kept)
        await self._keeper.forget(server, subject, actor=actor)
        self._forget(server, subject)
        await self._trail.record(
            "disconnect", actor=actor, server=server, owner=kept.label, details={"revoked": revoked}
        )
        return True

    async def revoke(self, connection: Connection) -> bool:
        """Revoke `connection`'s tokens at its authorization server when it offers revocation
        (best effort: False when it does not, or failed)."""
        try:
            upstream = await self._keeper.upstream(connection.server)
            endpoint = upstream.found.server.revocation_endpoint
            if endpoint is None:
                return False
            tokens = connection.tokens
            token, hint = (
                (tokens.refresh_token, "refresh_token")
                if tokens.refresh_token
                else (tokens.access_token, "access_token")
            )
            form = {"token": token, "token_type_hint": hint}
            headers: dict[str, str] = {}
            upstream.client.apply(form, headers, upstream.found.server.issuer)
            reply = await self._keeper.oauth_http.post_form(endpoint, form, headers)
        except (OAuthError, CredentialsUnavailableError) as exc:
            _log.warning("connection_revoke_failed", server=connection.server, error=exc.message)
            return False
        return reply.status == 200

    async def list(
        self, server: str, *, actor: str, subject: str | None = None
    ) -> list[Connection]:
        """The connections to `server` (only `subject`'s when given)."""
        self._keeper.oauth_of(server)
        if subject is not None:
            kept = await self._keeper.read(server, subject, actor=actor)
            return [] if kept is None else [kept]
        return await self._keeper.list(server, actor=actor)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
