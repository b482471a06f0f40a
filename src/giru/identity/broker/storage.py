"""`OAuthStore`: the authorization server's rows (clients, codes, refresh-token families,
signing keys); dataclasses out. Single use is enforced by conditional updates, so two workers
redeeming one code cannot both win. The IdP's refresh token of a sign-in is stored sealed with the
identity key-encryption key (`sealer`), never in clear."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from giru.errors import ConfigError, ConflictError
from giru.identity.broker.clients import ClientRecord, Registration
from giru.identity.broker.people import person_from_json, person_json
from giru.identity.broker.sealing import Sealer
from giru.identity.people import Person
from giru.store.database import Database
from giru.store.models import (
    DEFAULT_TENANT,
    OAuthClientRow,
    OAuthCodeRow,
    OAuthFamilyRow,
    OAuthRefreshTokenRow,
    OAuthSigningKeyRow,
    TenantRow,
    new_id,
)

__all__ = [
    "CodeGrant",
    "Family",
    "KeyRow",
    "OAuthStore",
    "PersonSeen",
    "Redemption",
    "Rotation",
]

_IDP_REFRESH: Final = b"giru idp refresh token"


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What an authorization code stands for."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    resource: str
    scope: str
    person: Person
    expires_at: datetime
    idp_refresh_token: str | None = None


@dataclass(frozen=True, slots=True)
class Redemption:
    """A code redeemed (`grant`), or replayed (`replayed_family`: what its first use issued,
    now revoked), or unknown (both None)."""

    grant: CodeGrant | None
    code_id: str | None = None
    replayed: bool = False
    replayed_family: str | None = None


@dataclass(frozen=True, slots=True)
class Family:
    id: str
    client_id: str
    resource: str
    scope: str
    person: Person
    expires_at: datetime
    idp_refresh_token: str | None = None


@dataclass(frozen=True, slots=True)
class PersonSeen:
    """A person who holds (or held) refresh-token families, by the label they are known by."""

    label: str
    subject: str
    groups: tuple[str, ...]
    families: int
    active_families: int
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Rotation:
    """A refresh token's rotation: `rotated` (the family), `reused` (a rotated token came back:
    the family is now revoked), or `invalid` (unknown, expired or revoked)."""

    outcome: Literal["rotated", "reused", "invalid"]
    family: Family | None = None


@dataclass(frozen=True, slots=True)
class KeyRow:
    kid: str
    algorithm: str
    public_jwk: dict[str, Any]
    sealed_private_key: str
    status: str
    created_at: datetime


def _client(row: OAuthClientRow) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        name=row.name,
        redirect_uris=tuple(row.redirect_uris),
        auth_method=row.auth_method,  # type: ignore[arg-type]  # checked when registered
        grant_types=frozenset(row.grant_types),
        kind="registered",
        secret_hash=row.secret_hash,
        expires_at=row.expires_at,
        metadata=row.client_metadata,
    )


class OAuthStore:
    """Open with `OAuthStore.open(database)` on a migrated database."""

    def __init__(self, database: Database, tenant_id: str, sealer: Sealer | None = None) -> None:
        self.database = database
        self._tenant = tenant_id
        self._sealer = sealer.derive("giru identity idp refresh tokens") if sealer else None

    @classmethod
    async def open(cls, database: Database, sealer: Sealer | None = None) -> OAuthStore:
        """The store; without `sealer`, IdP refresh tokens are not kept."""
        async with database.read() as session:
            tenant = await session.scalar(
                select(TenantRow.id).where(TenantRow.name == DEFAULT_TENANT)
            )
        if tenant is None:
            raise ConfigError(f"the database has no {DEFAULT_TENANT!r} tenant")
        return cls(database, tenant, sealer)

    def _seal(self, token: str | None) -> str | None:
        if token is None or self._sealer is None:
            return None
        return self._sealer.seal(token.encode(), _IDP_REFRESH)

    def _unseal(self, sealed: str | None) -> str | None:
        if sealed is None or self._sealer is None:
            return None
        try:
            return self._sealer.open(sealed, _IDP_REFRESH).decode()
        except ValueError:  # sealed under another key: as if the IdP gave none
            return None

    def _family(self, row: OAuthFamilyRow) -> Family:
        return Family(
            row.id,
            row.client_id,
            row.resource,
            row.scope,
            person_from_json(row.person),
            row.expires_at,
            self._unseal(row.sealed_idp_refresh_token),
        )

    def _stamp(self, now: datetime) -> dict[str, Any]:
        return {"id": new_id(), "tenant_id": self._tenant, "created_at": now, "updated_at": now}

    # clients

    async def register(
        self,
        client_id: str,
        registration: Registration,
        *,
        secret_hash: str | None,
        source_ip: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> ClientRecord:
        row = OAuthClientRow(
            **self._stamp(now),
            client_id=client_id,
            name=registration.name,
            redirect_uris=list(registration.redirect_uris),
            auth_method=registration.auth_method,
            grant_types=sorted(registration.grant_types),
            secret_hash=secret_hash,
            client_metadata=registration.metadata,
            registered_ip=source_ip,
            expires_at=expires_at,
        )
        async with self.database.transaction() as session:
            session.add(row)
        return _client(row)

    async def registrations_since(self, source_ip: str | None, since: datetime) -> int:
        async with self.database.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(OAuthClientRow)
                .where(OAuthClientRow.registered_ip == source_ip)
                .where(OAuthClientRow.created_at >= since)
            )
        return int(count or 0)

    async def client(self, client_id: str, now: datetime) -> ClientRecord | None:
        """The registered client, unless its registration expired unused."""
        async with self.database.read() as session:
            row = await session.scalar(
                select(OAuthClientRow).where(OAuthClientRow.client_id == client_id)
            )
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return _client(row)

    async def client_used(self, client_id: str, now: datetime) -> None:
        """A registration that led to a code no longer expires."""
        async with self.database.transaction() as session:
            await session.execute(
                update(OAuthClientRow)
                .where(OAuthClientRow.client_id == client_id)
                .where(OAuthClientRow.expires_at.is_not(None))
                .values(expires_at=None, updated_at=now)
            )

    async def purge(self, now: datetime) -> int:
        """Forget unused registrations past their expiry and codes past theirs."""
        async with self.database.transaction() as session:
            clients = await session.execute(
                delete(OAuthClientRow).where(OAuthClientRow.expires_at <= now)
            )
            codes = await session.execute(
                delete(OAuthCodeRow).where(OAuthCodeRow.expires_at <= now - timedelta(days=1))
            )
        return int(clients.rowcount or 0) + int(codes.rowcount or 0)  # type: ignore[attr-defined]

    # authorization codes

    async def save_code(
        self, code_hash: str, flow_id: str, grant: CodeGrant, now: datetime
    ) -> None:
        """Keep a new code; `ConflictError` when this sign-in already produced one."""
        row = OAuthCodeRow(
            **self._stamp(now),
            code_hash=code_hash,
            flow_id=flow_id,
            client_id=grant.client_id,
            redirect_uri=grant.redirect_uri,
            code_challenge=grant.code_challenge,
            resource=grant.resource,
            scope=grant.scope,
            person=person_json(grant.person),
            expires_at=grant.expires_at,
            used_at=None,
            family_id=None,
            sealed_idp_refresh_token=self._seal(grant.idp_refresh_token),
        )
        try:
            async with self.database.transaction() as session:
                session.add(row)
        except IntegrityError as exc:
            raise ConflictError("this sign-in was answered already", code="flow_used") from exc

    async def redeem_code(self, code_hash: str, now: datetime) -> Redemption:
        """Mark the code used, once; a second redemption revokes what the first one issued."""
        async with self.database.transaction() as session:
            row = await session.scalar(
                select(OAuthCodeRow).where(OAuthCodeRow.code_hash == code_hash)
            )
            if row is None:
                return Redemption(None)
            won = await session.execute(
                update(OAuthCodeRow)
                .where(OAuthCodeRow.id == row.id)
                .where(OAuthCodeRow.used_at.is_(None))
                .values(used_at=now, updated_at=now)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                family = await session.scalar(
                    select(OAuthCodeRow.family_id).where(OAuthCodeRow.id == row.id)
                )
                if family is not None:
                    await self._revoke(session, family, "code_replay", now)
                return Redemption(None, row.id, replayed=True, replayed_family=family)
        grant = CodeGrant(
            row.client_id,
            row.redirect_uri,
            row.code_challenge,
            row.resource,
            row.scope,
            person_from_json(row.person),
            row.expires_at,
            self._unseal(row.sealed_idp_refresh_token),
        )
        return Redemption(grant, row.id)

    # refresh-token families

    async def open_family(
        self, code_id: str | None, grant: CodeGrant, token_hash: str, now: datetime, ttl: timedelta
    ) -> Family:
        """A new family whose first refresh token is `token_hash`, tied to its code."""
        row = OAuthFamilyRow(
            **self._stamp(now),
            client_id=grant.client_id,
            subject=grant.person.subject,
            resource=grant.resource,
            scope=grant.scope,
            person=person_json(grant.person),
            expires_at=now + ttl,
            revoked_at=None,
            revoked_reason=None,
            sealed_idp_refresh_token=self._seal(grant.idp_refresh_token),
        )
        async with self.database.transaction() as session:
            session.add(row)
            await session.flush()
            session.add(
                OAuthRefreshTokenRow(
                    **self._stamp(now), token_hash=token_hash, family_id=row.id, rotated_at=None
                )
            )
            if code_id is not None:
                await session.execute(
                    update(OAuthCodeRow).where(OAuthCodeRow.id == code_id).values(family_id=row.id)
                )
        return self._family(row)

    async def family_revoked(self, family_id: str) -> bool:
        async with self.database.read() as session:
            revoked = await session.scalar(
                select(OAuthFamilyRow.revoked_at).where(OAuthFamilyRow.id == family_id)
            )
        return revoked is not None

    async def rotate(
        self, token_hash: str, new_hash: str, client_id: str, now: datetime
    ) -> Rotation:
        """Swap a refresh token of `client_id` for a new one; a rotated token seen again revokes
        the family. Another client's token is invalid and left alone."""
        async with self.database.transaction() as session:
            token = await session.scalar(
                select(OAuthRefreshTokenRow).where(OAuthRefreshTokenRow.token_hash == token_hash)
            )
            if token is None:
                return Rotation("invalid")
            family = await session.get(OAuthFamilyRow, token.family_id)
            if family is None or family.client_id != client_id:
                return Rotation("invalid")
            if family.revoked_at is not None or family.expires_at <= now:
                return Rotation("invalid", self._family(family) if family is not None else None)
            won = await session.execute(
                update(OAuthRefreshTokenRow)
                .where(OAuthRefreshTokenRow.id == token.id)
                .where(OAuthRefreshTokenRow.rotated_at.is_(None))
                .values(rotated_at=now, updated_at=now)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                await self._revoke(session, family.id, "refresh_reuse", now)
                return Rotation("reused", self._family(family))
            session.add(
                OAuthRefreshTokenRow(
                    **self._stamp(now), token_hash=new_hash, family_id=family.id, rotated_at=None
                )
            )
        return Rotation("rotated", self._family(family))

    async def refreshed(
        self, family_id: str, person: Person, idp_refresh_token: str | None, now: datetime
    ) -> None:
        """The person as the IdP described them at this refresh, and its new refresh token."""
        async with self.database.transaction() as session:
            await session.execute(
                update(OAuthFamilyRow)
                .where(OAuthFamilyRow.id == family_id)
                .values(
                    person=person_json(person),
                    sealed_idp_refresh_token=self._seal(idp_refresh_token),
                    updated_at=now,
                )
            )

    async def sign_in_of(self, subject: str, now: datetime) -> Family | None:
        """The person's most recent live sign-in (refresh-token family) that holds an IdP
        refresh token; None when they have none (signed out, revoked, expired, or the IdP gave
        no refresh token)."""
        async with self.database.read() as session:
            rows = await session.scalars(
                select(OAuthFamilyRow)
                .where(OAuthFamilyRow.subject == subject)
                .where(OAuthFamilyRow.revoked_at.is_(None))
                .where(OAuthFamilyRow.sealed_idp_refresh_token.is_not(None))
                .order_by(OAuthFamilyRow.updated_at.desc())
            )
            for row in rows:
                family = self._family(row)
                if _aware(row.expires_at) > _aware(now) and family.idp_refresh_token is not None:
                    return family
        return None

    async def revoke_family(self, family_id: str, reason: str, now: datetime) -> None:
        async with self.database.transaction() as session:
            await self._revoke(session, family_id, reason, now)

    async def revoke_person(self, label: str, reason: str, now: datetime) -> list[str]:
        """Revoke every live family of the person known as `label` (email, else subject);
        the ids of the families revoked."""
        async with self.database.transaction() as session:
            rows = await session.scalars(
                select(OAuthFamilyRow).where(OAuthFamilyRow.revoked_at.is_(None))
            )
            revoked = [r.id for r in rows if person_from_json(r.person).label == label]
            for family_id in revoked:
                await self._revoke(session, family_id, reason, now)
        return revoked

    async def people(self) -> list[PersonSeen]:
        """Everyone who signed in for a refresh-token family, by label, most recent first."""
        async with self.database.read() as session:
            rows = list(
                await session.scalars(
                    select(OAuthFamilyRow).order_by(OAuthFamilyRow.updated_at.desc())
                )
            )
        seen: dict[str, PersonSeen] = {}
        for row in rows:
            person = person_from_json(row.person)
            active = int(row.revoked_at is None and _aware(row.expires_at) > _aware(row.updated_at))
            known = seen.get(person.label)
            if known is None:
                seen[person.label] = PersonSeen(
                    person.label, person.subject, person.groups, 1, active, row.updated_at
                )
            else:
                seen[person.label] = dataclasses.replace(
                    known,
                    families=known.families + 1,
                    active_families=known.active_families + active,
                )
        return list(seen.values())

    async def revoke_token(self, token_hash: str, client_id: str, now: datetime) -> Family | None:
        """Revoke the family of a refresh token held by `client_id` (RFC 7009); None when the
        token is unknown or another client's."""
        async with self.database.transaction() as session:
            family = await session.scalar(
                select(OAuthFamilyRow)
                .join(OAuthRefreshTokenRow, OAuthRefreshTokenRow.family_id == OAuthFamilyRow.id)
                .where(OAuthRefreshTokenRow.token_hash == token_hash)
            )
            if family is None or family.client_id != client_id:
                return None
            await self._revoke(session, family.id, "revoked", now)
        return self._family(family)

    async def _revoke(self, session: Any, family_id: str, reason: str, now: datetime) -> None:
        await session.execute(
            update(OAuthFamilyRow)
            .where(OAuthFamilyRow.id == family_id)
            .where(OAuthFamilyRow.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason, updated_at=now)
        )

    # signing keys

    async def signing_keys(self) -> list[KeyRow]:
        """Keys not retired, newest first."""
        async with self.database.read() as session:
            rows = await session.scalars(
                select(OAuthSigningKeyRow)
                .where(OAuthSigningKeyRow.status != "retired")
                .order_by(OAuthSigningKeyRow.created_at.desc())
            )
            return [
                KeyRow(
                    r.kid, r.algorithm, r.public_jwk, r.sealed_private_key, r.status, r.created_at
                )
                for r in rows
            ]

    async def rotate_keys(self, new: KeyRow, replaced: Sequence[str]) -> bool:
        """Make `new` current: the current key (`replaced`, [] for the first) becomes previous
        and older ones are retired. False when another worker rotated first."""
        now = new.created_at
        async with self.database.transaction() as session:
            current = list(
                await session.scalars(
                    select(OAuthSigningKeyRow.kid).where(OAuthSigningKeyRow.status == "current")
                )
            )
            if sorted(current) != sorted(replaced):
                return False
            await session.execute(
                update(OAuthSigningKeyRow)
                .where(OAuthSigningKeyRow.status == "previous")
                .values(status="retired", updated_at=now)
            )
            await session.execute(
                update(OAuthSigningKeyRow)
                .where(OAuthSigningKeyRow.status == "current")
                .values(status="previous", updated_at=now)
            )
            session.add(
                OAuthSigningKeyRow(
                    **self._stamp(now),
                    kid=new.kid,
                    algorithm=new.algorithm,
                    public_jwk=new.public_jwk,
                    sealed_private_key=new.sealed_private_key,
                    status="current",
                )
            )
        return True


def _aware(when: datetime) -> datetime:
    """SQLite gives naive datetimes back; they are UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
