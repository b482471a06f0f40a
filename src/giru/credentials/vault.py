"""The `vault` secret backend: HashiCorp Vault's KV v2 engine over its HTTP API (aiohttp).

Giru logs in with a token, AppRole or Kubernetes service account, renews its own token when
two thirds of its TTL have passed (on the next request: no background task), and logs in again
when the token can no longer be renewed or Vault refuses it. Every write is a new KV version;
Giru's database keeps only the path. Every request has a deadline; any failure is a
`CredentialsUnavailableError` naming what went wrong (unreachable, sealed, refused), never a
secret.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import orjson
import structlog

from giru.credentials.backend import decode_entries
from giru.egress import UPSTREAMS, egress_connector, egress_session
from giru.errors import ConfigError, CredentialsUnavailableError
from giru.settings import VaultSettings
from giru.store.records import SecretRecord
from giru.store.secrets import Placement

__all__ = ["VaultBackend"]

_log = structlog.get_logger(__name__)
_RENEW_AT: Final = 2 / 3
_MOUNT_DEFAULTS: Final = {"approle": "approle", "kubernetes": "kubernetes"}


@dataclass(slots=True)
class _Token:
    value: str
    obtained: float
    ttl: float  # seconds; 0: never expires
    renewable: bool


class _RefusedError(Exception):
    """Vault answered 403: the token is missing, expired or lacks a policy."""


class VaultBackend:
    """Secrets in Vault KV v2 at `settings.mount`, under `settings.secret_path`."""

    name = "vault"

    def __init__(
        self,
        settings: VaultSettings,
        *,
        environment: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.url:
            raise ConfigError("GIRU_SECRETS__VAULT__URL is required with the vault backend")
        _check_auth(settings)
        self._settings = settings
        self._environment = environment
        self._clock = clock
        self._base = settings.url.rstrip("/")
        self._mount = settings.mount.strip("/")
        self._http: aiohttp.ClientSession | None = None
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    # paths

    def secret_path(self, name: str) -> str:
        """Where secret `name` lives under the mount (`giru/{environment}/secrets/{name}`)."""
        return self._settings.secret_path.format(environment=self._environment, name=name)

    def connection_path(self, server: str, subject: str) -> str:
        """Where a connection's tokens live (`giru/{environment}/mcp/{server}/{subject}`)."""
        return self._settings.connection_path.format(
            environment=self._environment,
            server=quote(server, safe=""),
            subject=quote(subject, safe="@"),
        )

    # SecretBackend

    async def put(
        self,
        name: str,
        entries: Mapping[str, str],
        encoded: bytes,
        *,
        connection: tuple[str, str] | None = None,
    ) -> Placement:
        path = self.secret_path(name) if connection is None else self.connection_path(*connection)
        version = await self.write(path, entries)
        return Placement(
            backend=self.name,
            entries=tuple(sorted(entries)),
            size=len(encoded),
            version=version,
            reference=path,
        )

    async def get(self, record: SecretRecord) -> dict[str, str]:
        entries, _version = await self.read(record.reference or self.secret_path(record.name))
        return entries

    async def delete(self, record: SecretRecord) -> None:
        path = record.reference or self.secret_path(record.name)
        await self._request("DELETE", f"{self._mount}/metadata/{path}", missing_ok=True)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # KV v2 by path

    async def write(self, path: str, entries: Mapping[str, str]) -> int:
        """A new version of the entries at `path`; its version number."""
        body = await self._request("POST", f"{self._mount}/data/{path}", {"data": dict(entries)})
        version = (body.get("data") or {}).get("version")
        if not isinstance(version, int):
            raise CredentialsUnavailableError("Vault did not answer the write with a version")
        return version

    async def read(self, path: str) -> tuple[dict[str, str], int]:
        """The newest version of the entries at `path` and its number."""
        body = await self._request("GET", f"{self._mount}/data/{path}")
        data = body.get("data") or {}
        if data.get("data") is None:
            raise CredentialsUnavailableError(f"Vault holds no current version at {path!r}")
        version = (data.get("metadata") or {}).get("version")
        return decode_entries(path, data["data"]), version if isinstance(version, int) else 0

    # HTTP

    async def _request(
        self, method: str, path: str, body: Any = None, *, missing_ok: bool = False
    ) -> dict[str, Any]:
        token = await self._current_token()
        try:
            return await self._send(method, path, body, token, missing_ok=missing_ok)
        except _RefusedError:
            if self._settings.auth == "token":
                raise _refused(path) from None
        async with self._lock:  # the token may have expired or been revoked: log in again
            if self._token is not None and self._token.value == token:
                self._token = await self._login()
            token = self._token.value if self._token is not None else token
        try:
            return await self._send(method, path, body, token, missing_ok=missing_ok)
        except _RefusedError:
            raise _refused(path) from None

    async def _send(
        self, method: str, path: str, body: Any, token: str | None, *, missing_ok: bool = False
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Vault-Token"] = token
        if self._settings.namespace:
            headers["X-Vault-Namespace"] = self._settings.namespace
        url = f"{self._base}/v1/{path}"
        data = None if body is None else orjson.dumps(body)
        try:
            async with self._session().request(method, url, data=data, headers=headers) as reply:
                payload = await reply.read()
                status = reply.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CredentialsUnavailableError(
                f"Vault at {self._base} is unreachable ({type(exc).__name__})"
            ) from exc
        return _answer(status, payload, path, missing_ok=missing_ok)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=self._settings.timeout_s)
            context: ssl.SSLContext | bool = True
            if self._settings.ca_file is not None:
                context = ssl.create_default_context(cafile=str(self._settings.ca_file))
            # Vault is the operator's own service (loopback and private allowed); a standby
            # node may redirect to the active one, so redirects are followed, each hop checked
            self._http = egress_session(
                UPSTREAMS,
                follow_redirects=True,
                timeout=timeout,
                connector=egress_connector(UPSTREAMS, limit=32, ssl=context),
            )
        return self._http

    # Giru's own token

    async def _current_token(self) -> str:
        token = self._token
        if token is not None and not self._due(token):
            return token.value
        async with self._lock:
            token = self._token
            if token is None:
                self._token = token = await self._login()
            elif self._due(token):
                self._token = token = await self._renew(token)
            return token.value

    def _due(self, token: _Token) -> bool:
        return token.ttl > 0 and self._clock() - token.obtained >= token.ttl * _RENEW_AT

    async def _renew(self, token: _Token) -> _Token:
        if token.renewable:
            try:
                body = await self._send("POST", "auth/token/renew-self", {}, token.value)
            except (_RefusedError, CredentialsUnavailableError) as exc:
                _log.warning("vault_token_renewal_failed", error=type(exc).__name__)
            else:
                renewed = self._from_auth(body)
                if renewed.ttl > 0:
                    _log.info("vault_token_renewed", ttl_s=renewed.ttl)
                    return renewed
        if self._settings.auth == "token":
            return token  # nothing else to do: Vault will say when it has expired
        return await self._login()

    async def _login(self) -> _Token:
        settings = self._settings
        if settings.auth == "token":
            value = settings.token.get_secret_value() if settings.token is not None else ""
            try:
                body = await self._send("GET", "auth/token/lookup-self", None, value)
            except _RefusedError:
                raise _refused("auth/token/lookup-self") from None
            data = body.get("data") or {}
            ttl, renewable = float(data.get("ttl") or 0), bool(data.get("renewable"))
            return _Token(value, self._clock(), ttl, renewable)
        mount = (settings.auth_mount or _MOUNT_DEFAULTS[settings.auth]).strip("/")
        try:
            body = await self._send("POST", f"auth/{mount}/login", self._credentials(), None)
        except _RefusedError:
            raise CredentialsUnavailableError(
                f"Vault refused Giru's {settings.auth} login at auth/{mount}"
            ) from None
        _log.info("vault_login", method=settings.auth)
        return self._from_auth(body)

    def _credentials(self) -> dict[str, str]:
        settings = self._settings
        if settings.auth == "approle":
            secret_id = settings.secret_id.get_secret_value() if settings.secret_id else ""
            return {"role_id": settings.role_id or "", "secret_id": secret_id}
        try:
            jwt = settings.kubernetes_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialsUnavailableError(
                f"cannot read the service account token {settings.kubernetes_token_file}"
            ) from exc
        return {"role": settings.kubernetes_role or "", "jwt": jwt}

    def _from_auth(self, body: dict[str, Any]) -> _Token:
        auth = body.get("auth") or {}
        value = auth.get("client_token")
        if not isinstance(value, str) or not value:
            raise CredentialsUnavailableError("Vault's login answer holds no client token")
        ttl = float(auth.get("lease_duration") or 0)
        return _Token(value, self._clock(), ttl, bool(auth.get("renewable")))


def _check_auth(settings: VaultSettings) -> None:
    missing = {
        "token": [] if settings.token else ["GIRU_SECRETS__VAULT__TOKEN"],
        "approle": [
            name
            for name, value in (
                ("GIRU_SECRETS__VAULT__ROLE_ID", settings.role_id),
                ("GIRU_SECRETS__VAULT__SECRET_ID", settings.secret_id),
            )
            if not value
        ],
        "kubernetes": [] if settings.kubernetes_role else ["GIRU_SECRETS__VAULT__KUBERNETES_ROLE"],
    }[settings.auth]
    if missing:
        raise ConfigError(f"Vault {settings.auth} auth needs {', '.join(missing)}")


def _answer(status: int, payload: bytes, path: str, *, missing_ok: bool) -> dict[str, Any]:
    if status == 403:
        raise _RefusedError()
    if status == 404 and missing_ok:
        return {}
    if status == 404:
        raise CredentialsUnavailableError(f"Vault holds nothing at {path!r}")
    if status == 503:
        raise CredentialsUnavailableError("Vault is sealed or not ready (503)")
    if status >= 400:
        raise CredentialsUnavailableError(f"Vault answered {status} for {path!r}")
    if not payload:
        return {}
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CredentialsUnavailableError(f"Vault answered {path!r} with non-JSON") from exc
    return body if isinstance(body, dict) else {}


def _refused(path: str) -> CredentialsUnavailableError:
    return CredentialsUnavailableError(f"Vault refused Giru's token for {path!r} (403)")
