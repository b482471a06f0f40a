"""A connection: the OAuth tokens a person (or, `shared`, an admin for everyone) obtained for Giru
at an upstream's authorization server, and what may be shown about them.

Each connection is one secret in the secret store (`SecretStore`, so the `database` backend seals
it and the `vault` backend keeps it in Vault), named `conn.<server>.<digest of the subject>`:
its `tokens` entry holds the `TokenSet`, its `about` entry who made it, for which client and
authorization server, its status and when it was last refreshed. Listings show `about`, never
`tokens`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import orjson

from giru.credentials.oauth import TokenSet
from giru.errors import CredentialsUnavailableError

__all__ = [
    "PREFIX",
    "SHARED",
    "Connection",
    "ConnectionStatus",
    "connection_from_entries",
    "secret_name",
]

PREFIX: Final = "conn."
SHARED: Final = "shared"
"""The subject of a `shared` connection (the one every caller uses)."""

ConnectionStatus = Literal["connected", "needs_reconnect"]


def secret_name(server: str, subject: str) -> str:
    """The secret holding `subject`'s connection to `server` (a digest: a subject may hold any
    character, a secret name may not)."""
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"{PREFIX}{server}.{digest}"


@dataclass(frozen=True, slots=True)
class Connection:
    """One connection; `tokens` never leaves Giru except towards its upstream."""

    server: str
    subject: str
    label: str
    """Who made it, as audit records name people (their email, else their subject)."""
    issuer: str
    client_id: str
    resource: str
    tokens: TokenSet = field(repr=False)
    connected_at: float
    refreshed_at: float | None = None
    status: ConnectionStatus = "connected"
    state_nonce: str = ""
    """The nonce of the flow that made it: a replayed callback of that flow is refused."""
    wanted_scopes: tuple[str, ...] = ()
    """Scopes the upstream asked for beyond these tokens' (a 403 `insufficient_scope`): asked
    for, with the others, when the connection is made again (step-up)."""
    mark: str = field(default="", compare=False, repr=False)
    """Which version of its secret it was read from ("": not read from the store), for
    `ConnectionKeeper.unchanged` to tell whether the secret changed since."""

    def entries(self) -> dict[str, str]:
        about = {
            "server": self.server,
            "subject": self.subject,
            "label": self.label,
            "issuer": self.issuer,
            "clientId": self.client_id,
            "resource": self.resource,
            "connectedAt": self.connected_at,
            "refreshedAt": self.refreshed_at,
            "status": self.status,
            "stateNonce": self.state_nonce,
            "wantedScopes": list(self.wanted_scopes),
        }
        return {"tokens": self.tokens.dumps().decode(), "about": orjson.dumps(about).decode()}

    def refreshed(self, tokens: TokenSet, at: float) -> Connection:
        return replace(self, tokens=tokens, refreshed_at=at, status="connected")

    def public(self) -> dict[str, Any]:
        """What the API shows: never a token."""
        return {
            "server": self.server,
            "subject": self.subject,
            "who": self.label,
            "scopes": list(self.tokens.scope),
            "expiresAt": self.tokens.expires_at,
            "connectedAt": self.connected_at,
            "refreshedAt": self.refreshed_at,
            "status": self.status,
            "refreshable": self.tokens.refresh_token is not None,
            "issuer": self.issuer,
            "clientId": self.client_id,
        }


def connection_from_entries(name: str, entries: dict[str, str]) -> Connection:
    """The connection a secret holds; `CredentialsUnavailableError` when it holds none."""
    try:
        about = orjson.loads(entries["about"])
        tokens = TokenSet.loads(entries["tokens"].encode())
        status: ConnectionStatus = (
            "needs_reconnect" if about.get("status") == "needs_reconnect" else "connected"
        )
        refreshed = about.get("refreshedAt")
        return Connection(
            server=str(about["server"]),
            subject=str(about["subject"]),
            label=str(about["label"]),
            issuer=str(about["issuer"]),
            client_id=str(about["clientId"]),
            resource=str(about["resource"]),
            tokens=tokens,
            connected_at=float(about["connectedAt"]),
            refreshed_at=None if refreshed is None else float(refreshed),
            status=status,
            state_nonce=str(about.get("stateNonce", "")),
            wanted_scopes=tuple(str(scope) for scope in about.get("wantedScopes") or ()),
        )
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
        raise CredentialsUnavailableError(f"secret {name!r} does not hold a connection") from exc
