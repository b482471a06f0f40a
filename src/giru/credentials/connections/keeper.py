"""`ConnectionKeeper`: connections in the secret store (read, kept, forgotten, listed), and the
OAuth pieces every connection operation shares: the upstream's spec, discovery of its
authorization server and the client Giru is there."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import aiohttp

from giru.credentials.connections.notices import ConnectionNotices
from giru.credentials.connections.records import (
    PREFIX,
    Connection,
    connection_from_entries,
    secret_name,
)
from giru.credentials.connections.registration import ClientRegistration
from giru.credentials.oauth import ClientAuth, Discovered, Discovery, OAuthHttp, TokenEndpoint
from giru.credentials.secretstore import SecretStore
from giru.errors import NotFoundError, ValidationError
from giru.store.records import SecretRecord
from giru.upstream.base import ServerSpec, UpstreamOAuth

__all__ = ["ConnectionKeeper", "Upstream"]


@dataclass(frozen=True, slots=True)
class Upstream:
    """A server that takes OAuth connections, and its authorization server as discovered."""

    spec: ServerSpec
    oauth: UpstreamOAuth
    found: Discovered
    client: ClientAuth

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.oauth.scopes or self.found.scopes


class ConnectionKeeper:
    def __init__(
        self,
        secrets: SecretStore,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        specs: Callable[[], Mapping[str, ServerSpec]],
        notices: ConnectionNotices | None = None,
    ) -> None:
        """`notices`: told of every connection kept or forgotten here, for the other workers."""
        self.secrets = secrets
        self.notices = notices
        self.oauth_http = OAuthHttp(http)
        self.discovery = Discovery(self.oauth_http)
        self.registration = ClientRegistration(secrets, http, base_url=base_url)
        self.base_url = base_url
        self._specs = specs

    def oauth_of(self, server: str) -> tuple[ServerSpec, UpstreamOAuth]:
        """`NotFoundError` (no such server) or `ValidationError` (it takes no connections)."""
        spec = self._specs().get(server)
        if spec is None:
            raise NotFoundError(f"no MCPServer named {server!r}")
        if spec.oauth is None or spec.url is None:
            raise ValidationError(
                f"MCPServer {server!r} does not take OAuth connections "
                "(spec.auth.type is not oauth2-authorization-code)"
            )
        return spec, spec.oauth

    async def upstream(self, server: str) -> Upstream:
        """The server, its authorization server and Giru's client there (discovered, cached)."""
        spec, oauth = self.oauth_of(server)
        assert spec.url is not None
        found = await self.discovery.discover(spec.url)
        client = await self.registration.client(server, oauth, found.server)
        return Upstream(spec, oauth, found, client)

    def token_endpoint(self, upstream: Upstream) -> TokenEndpoint:
        server = upstream.found.server
        return TokenEndpoint(
            self.oauth_http, server.token_endpoint, upstream.client, issuer=server.issuer
        )

    async def read(self, server: str, subject: str, *, actor: str) -> Connection | None:
        """`subject`'s connection to `server` (its read audited as `secrets/read`), or None."""
        name = secret_name(server, subject)
        try:
            record = await self.secrets.info(name)
        except NotFoundError:
            return None
        entries = await self.secrets.entries(record, server=server, actor=actor)
        return replace(connection_from_entries(name, entries), mark=_mark(record))

    async def unchanged(self, connection: Connection) -> bool | None:
        """Whether `connection`'s secret is still the version it was read from (its metadata
        only: no read is audited); None when the secret is gone."""
        try:
            record = await self.secrets.info(secret_name(connection.server, connection.subject))
        except NotFoundError:
            return None
        return _mark(record) == connection.mark

    async def keep(self, connection: Connection, *, actor: str) -> None:
        name = secret_name(connection.server, connection.subject)
        await self.secrets.put(
            name,
            connection.entries(),
            actor=actor,
            connection=(connection.server, connection.subject),
        )
        await self._notify(name)

    async def forget(self, server: str, subject: str, *, actor: str) -> None:
        name = secret_name(server, subject)
        await self.secrets.delete(name, actor=actor, state=True)
        await self._notify(name)

    async def _notify(self, name: str) -> None:
        if self.notices is not None:
            await self.notices.publish(name)

    async def list(self, server: str, *, actor: str) -> builtins.list[Connection]:
        """Every connection to `server` (each read audited)."""
        found: builtins.list[Connection] = []
        cursor: str | None = None
        prefix = f"{PREFIX}{server}."
        while True:
            page = await self.secrets.list(limit=100, cursor=cursor)
            for record in page.items:
                if record.name.startswith(prefix):
                    entries = await self.secrets.entries(record, server=server, actor=actor)
                    found.append(connection_from_entries(record.name, entries))
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor


def _mark(record: SecretRecord) -> str:
    """A secret's version: every write raises `version`; made again after a delete, it has
    another `created_at`."""
    return f"{record.created_at.isoformat()}#{record.version}"
