"""`SecretStore`: secrets by name, write-only from outside, every operation audited.

Values go in (`put`) and out only towards an upstream (`read`, for a call); the API and CLI see
metadata (name, version, entries, size, backend, when, by whom). Every write, delete, key
rotation and read for a call is an audit record (who, which secret, what, outcome: never a
value). The `secrets` table is the index of every secret, whichever backend holds its value.
"""

from __future__ import annotations

import builtins
import secrets as random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog

from giru.access.bootstrap import rewrite_kept_file, secrets_keys
from giru.credentials.backend import DatabaseBackend, SecretBackend
from giru.credentials.envelope import Keyring, Sealed
from giru.credentials.names import check_entries, check_name
from giru.credentials.trail import AuditSink, CredentialsTrail
from giru.credentials.vault import VaultBackend
from giru.errors import CredentialsUnavailableError, GiruError, NotFoundError
from giru.settings import Settings
from giru.store import Store
from giru.store import secrets as stored
from giru.store.records import Page, SecretRecord

__all__ = ["AuditSink", "Rotation", "SecretStore", "open_secret_store"]

_log = structlog.get_logger(__name__)
_GATEWAY: Final = "gateway"
_BATCH: Final = 100


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate_key` did: the current KEK, how many data keys it re-wrapped, how many it
    could not (sealed by a key this process lacks), and whether it made the new key itself."""

    key_id: str
    rewrapped: int
    failed: int
    generated: bool


class SecretStore:
    """Secrets in the store's `secrets` table, values in `backends[default]` (new writes) or
    whichever backend a secret's row names (reads)."""

    def __init__(
        self,
        store: Store,
        backends: Mapping[str, SecretBackend],
        *,
        default: str,
        max_bytes: int,
        audit: AuditSink | None = None,
        node: str = "",
        key_file: Path | None = None,
    ) -> None:
        self._store = store
        self._backends = dict(backends)
        self.default = default
        self._max_bytes = max_bytes
        self._trail = CredentialsTrail(audit, node=node)
        self._key_file = key_file

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()

    async def put(
        self,
        name: str,
        entries: Mapping[str, str],
        *,
        actor: str,
        connection: tuple[str, str] | None = None,
        state: bool = False,
    ) -> tuple[SecretRecord, bool]:
        """Store a new version of secret `name`; (its metadata, whether it was created).
        `connection` (server, subject): a connection's tokens (Vault keeps them at the
        connection path). `state`: runtime state that is not configuration (a connection's
        tokens, a client registration): audited, but no new configuration revision, so
        workers do not reload (a connection's tokens are always runtime state).

        Raises:
            ValidationError: a bad name or entry (`SecretTooLargeError`: over the size cap).
            CredentialsUnavailableError: the backend cannot take it.
        """
        check_name(name)
        async with self._audited(actor, "set", name) as details:
            encoded = check_entries(entries, self._max_bytes)
            backend = self._backends[self.default]
            placed = await backend.put(name, entries, encoded, connection=connection)
            change = not state and connection is None
            async with self._store.database.write(self._store.tenant_id, actor=actor) as tx:
                record, created = await stored.put(tx, name, placed, change=change)
            details.update(backend=record.backend, version=record.version, created=created)
        return record, created

    async def info(self, name: str) -> SecretRecord:
        """The metadata of secret `name`; `NotFoundError` when there is none."""
        check_name(name)
        async with self._store.database.read() as session:
            record = await stored.find(session, self._store.tenant_id, name)
        if record is None:
            raise NotFoundError(f"no secret named {name!r}")
        return record

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> Page[SecretRecord]:
        async with self._store.database.read() as session:
            return await stored.page(session, self._store.tenant_id, limit=limit, cursor=cursor)

    async def delete(self, name: str, *, actor: str, state: bool = False) -> None:
        """Forget secret `name` in its backend and the store; `NotFoundError` if unknown.
        `state`: runtime state, as in `put`."""
        check_name(name)
        async with self._audited(actor, "delete", name) as details:
            record = await self.info(name)
            await self._backend(record).delete(record)
            async with self._store.database.write(self._store.tenant_id, actor=actor) as tx:
                await stored.remove(tx, name, change=not state)
            details.update(backend=record.backend, version=record.version)

    async def read(self, name: str, *, server: str | None, actor: str = _GATEWAY) -> SecretRecord:
        """The metadata of `name`, for `entries` to open next; kept apart so that the call path
        can tell a missing secret from an unreachable backend."""
        try:
            return await self.info(name)
        except NotFoundError as exc:
            await self._record(actor, "read", name, "error", [exc.message], {}, server=server)
            raise CredentialsUnavailableError(exc.message) from exc

    async def entries(
        self, record: SecretRecord, *, server: str | None, actor: str = _GATEWAY
    ) -> dict[str, str]:
        """The entries of `record`, read from its backend for a call to `server` (audited)."""
        async with self._audited(actor, "read", record.name, server=server) as details:
            details.update(backend=record.backend, version=record.version)
            return await self._backend(record).get(record)

    async def rotate_key(self, *, actor: str) -> Rotation:
        """Re-wrap every database-backend data key under the current key-encryption key, one
        secret per transaction (reads go on meanwhile: both keys open). With the embedded
        default key file, make a new key first and drop the old one once nothing needs it."""
        backend = self._backends.get("database")
        if not isinstance(backend, DatabaseBackend):
            raise CredentialsUnavailableError("the database secret backend is not configured")
        async with self._audited(actor, "rotate-key", None) as details:
            generated = self._generate_key(backend)
            current = backend.keyring.current_id
            if current is None:
                raise CredentialsUnavailableError("no key-encryption key is configured")
            rewrapped, failed = await self._rewrap_all(backend.keyring, current)
            if generated and failed == 0 and self._key_file is not None:
                rewrite_kept_file(self._key_file, self._key_lines()[:1])
            details.update(keyId=current, rewrapped=rewrapped, failed=failed, generated=generated)
        return Rotation(current, rewrapped, failed, generated)

    def derived_key(self, purpose: str) -> bytes:
        """A key for `purpose` derived from the current key-encryption key (the same in every
        worker); `CredentialsUnavailableError` without one."""
        backend = self._backends.get("database")
        if not isinstance(backend, DatabaseBackend):
            raise CredentialsUnavailableError("the database secret backend is not configured")
        return backend.keyring.derive(purpose)

    def _generate_key(self, backend: DatabaseBackend) -> bool:
        if self._key_file is None:
            return False
        lines = [random.token_hex(32), *self._key_lines()]
        rewrite_kept_file(self._key_file, lines)  # the old keys stay until nothing needs them
        backend.keyring = Keyring.from_text(lines)
        return True

    def _key_lines(self) -> builtins.list[str]:
        if self._key_file is None:
            return []
        return self._key_file.read_text(encoding="ascii").split()

    async def _rewrap_all(self, keyring: Keyring, current: str) -> tuple[int, int]:
        rewrapped = failed = 0
        skipped: set[str] = set()
        while True:
            async with self._store.database.read() as session:
                batch = await stored.sealed_by_other_keys(
                    session, self._store.tenant_id, current, limit=_BATCH + len(skipped)
                )
            batch = [record for record in batch if record.name not in skipped]
            if not batch:
                return rewrapped, failed
            for record in batch:
                if await self._rewrap(keyring, record):
                    rewrapped += 1
                else:
                    failed += 1
                    skipped.add(record.name)

    async def _rewrap(self, keyring: Keyring, record: SecretRecord) -> bool:
        if record.key_id is None or record.wrapped_key is None or record.ciphertext is None:
            return False
        sealed = Sealed(record.key_id, record.wrapped_key, record.ciphertext)
        try:
            fresh = keyring.rewrap(record.name, sealed)
        except CredentialsUnavailableError as exc:
            _log.error("secret_rewrap_failed", secret=record.name, error=exc.message)
            return False
        if fresh is None:
            return True
        async with self._store.database.write(self._store.tenant_id, actor=_GATEWAY) as tx:
            await stored.rewrap(tx, record, fresh.key_id, fresh.wrapped_key)
        return True  # or the secret changed meanwhile: then it was sealed with the current key

    def _backend(self, record: SecretRecord) -> SecretBackend:
        backend = self._backends.get(record.backend)
        if backend is None:
            raise CredentialsUnavailableError(
                f"secret {record.name!r} is held by the {record.backend} backend, which is not "
                "configured in this process"
            )
        return backend

    def _audited(
        self, actor: str, operation: str, name: str | None, *, server: str | None = None
    ) -> _Audited:
        return _Audited(self, actor, operation, name, server)

    async def _record(
        self,
        actor: str,
        operation: str,
        name: str | None,
        outcome: str,
        reasons: builtins.list[str],
        details: dict[str, Any],
        *,
        server: str | None = None,
    ) -> None:
        await self._trail.record(
            f"secrets/{operation}",
            actor=actor,
            server=server,
            target=name,
            outcome=outcome,
            reasons=reasons,
            details=details,
        )


class _Audited:
    """`async with`: one audit record for the operation, `allowed` or what failed (never a
    value: the details are what the operation put in them, the reasons an error message)."""

    def __init__(
        self, owner: SecretStore, actor: str, operation: str, name: str | None, server: str | None
    ) -> None:
        self._owner, self._actor, self._operation = owner, actor, operation
        self._name, self._server = name, server
        self.details: dict[str, Any] = {}

    async def __aenter__(self) -> dict[str, Any]:
        return self.details

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: Any
    ) -> None:
        if kind is not None and not isinstance(exc, GiruError):
            return  # a bug or a cancellation: the boundary logs it
        outcome, reasons = "allowed", []
        if isinstance(exc, GiruError):
            outcome = (
                "bad_request" if exc.code in ("validation_failed", "secret_too_large") else "error"
            )
            reasons = [exc.message[:300]]
            self.details["code"] = exc.code
        await self._owner._record(
            self._actor,
            self._operation,
            self._name,
            outcome,
            reasons,
            self.details,
            server=self._server,
        )


def open_secret_store(
    settings: Settings, store: Store, *, audit: AuditSink | None = None, node: str = ""
) -> SecretStore:
    """The secret store `settings` describe: the database backend always (it reads what it
    sealed), Vault when it is the backend for new secrets or has a URL."""
    section = settings.secrets
    keys = secrets_keys(settings)
    backends: dict[str, SecretBackend] = {
        "database": DatabaseBackend(Keyring.from_text(keys.values))
    }
    if section.backend == "vault" or section.vault.url:
        backends["vault"] = VaultBackend(section.vault, environment=section.environment)
    return SecretStore(
        store,
        backends,
        default=section.backend,
        max_bytes=section.max_bytes,
        audit=audit,
        node=node,
        key_file=keys.file,
    )
