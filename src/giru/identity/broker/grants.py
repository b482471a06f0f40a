"""The back channel: `/token` (authorization_code, refresh_token), `/register` (RFC 7591) and
`/revoke` (RFC 7009). Errors are `OAuthError`s, rendered as RFC 6749 §5.2 JSON once, by the
endpoints."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from giru.identity.broker.clients import ClientRecord, parse_registration
from giru.identity.broker.errors import OAuthError
from giru.identity.broker.pkce import verifier_matches
from giru.identity.broker.relying_party import SignInError
from giru.identity.broker.server import Broker
from giru.identity.broker.storage import CodeGrant, Family
from giru.identity.broker.tokens import (
    REFRESH_PREFIX,
    SECRET_PREFIX,
    access_claims,
    digest,
    new_secret,
)
from giru.identity.people import Person

__all__ = ["authenticate_client", "exchange", "register", "revoke"]


def _basic(header: str | None) -> tuple[str, str] | None:
    if header is None or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError("invalid_client", "malformed Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "malformed Basic credentials")
    return unquote(client_id), unquote(secret)  # RFC 6749 §2.3.1: form-encoded first


async def authenticate_client(
    broker: Broker, form: Mapping[str, str], authorization: str | None
) -> ClientRecord:
    """The client making a back-channel request (RFC 6749 §2.3): public clients name
    themselves; confidential ones prove it with their secret (Basic or in the body)."""
    basic = _basic(authorization)
    if basic is not None and (
        "client_secret" in form or form.get("client_id", basic[0]) != basic[0]
    ):
        raise OAuthError("invalid_request", "one client authentication method at a time")
    client_id, secret = (
        basic if basic is not None else (form.get("client_id"), form.get("client_secret"))
    )
    if not client_id:
        raise OAuthError("invalid_client", "client authentication is required")
    client = await broker.client(client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client")
    if client.public:
        if secret is not None:
            raise OAuthError("invalid_client", "this client has no secret")
        return client
    method = "client_secret_basic" if basic is not None else "client_secret_post"
    expected = client.secret_hash or ""
    if (
        secret is None
        or not hmac.compare_digest(digest(secret), expected)
        or method != client.auth_method
    ):
        raise OAuthError("invalid_client", "client authentication failed")
    return client


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise OAuthError("invalid_request", f"{name} is required")
    return value


async def _issue(
    broker: Broker,
    client: ClientRecord,
    *,
    resource: str,
    scope: str,
    person: Person,
    refresh_token: str | None,
) -> dict[str, Any]:
    now = broker.clock()
    token = access_claims(
        issuer=broker.config.issuer,
        resource=resource,
        person=person,
        client_id=client.client_id,
        scope=scope,
        now=now,
        ttl_s=broker.config.access_ttl_s,
    )
    body: dict[str, Any] = {
        "access_token": await broker.keys.sign(token.claims, now),
        "token_type": "Bearer",
        "expires_in": token.expires_in,
        "scope": scope,
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body


async def _authorization_code(
    broker: Broker, client: ClientRecord, form: Mapping[str, str], source_ip: str | None
) -> dict[str, Any]:
    code = _required(form, "code")
    now = broker.clock()
    redemption = await broker.store.redeem_code(digest(code), now)
    if redemption.replayed:
        await broker.trail.event(
            "code_replay",
            actor=client.client_id,
            outcome="forbidden",
            target=client.client_id,
            source_ip=source_ip,
            reasons=["authorization code used twice: what it issued is revoked"],
            details={"code_sha256": digest(code), "family": redemption.replayed_family},
        )
        raise OAuthError("invalid_grant", "the authorization code was used already")
    grant = redemption.grant
    if grant is None or grant.client_id != client.client_id or grant.expires_at <= now:
        raise OAuthError("invalid_grant", "the authorization code is not valid")
    if form.get("redirect_uri", grant.redirect_uri) != grant.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri is not the one of the authorization")
    if not verifier_matches(form.get("code_verifier"), grant.code_challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    if form.get("resource", grant.resource) != grant.resource:
        raise OAuthError("invalid_target", "resource is not the one of the authorization")
    refresh = await _open_family(broker, client, grant, redemption.code_id)
    body = await _issue(
        broker,
        client,
        resource=grant.resource,
        scope=grant.scope,
        person=grant.person,
        refresh_token=refresh,
    )
    await _audit_issue(broker, client, grant.person, "authorization_code", body, source_ip)
    return body


async def _open_family(
    broker: Broker, client: ClientRecord, grant: CodeGrant, code_id: str | None
) -> str | None:
    if "refresh_token" not in client.grant_types:
        return None
    refresh = new_secret(REFRESH_PREFIX)
    ttl = timedelta(seconds=broker.config.refresh_ttl_s)
    await broker.store.open_family(code_id, grant, digest(refresh), broker.clock(), ttl)
    return refresh


async def _refresh_token(
    broker: Broker, client: ClientRecord, form: Mapping[str, str], source_ip: str | None
) -> dict[str, Any]:
    presented = _required(form, "refresh_token")
    if "refresh_token" not in client.grant_types:
        raise OAuthError("unauthorized_client", "this client may not use refresh tokens")
    new = new_secret(REFRESH_PREFIX)
    rotation = await broker.store.rotate(
        digest(presented), digest(new), client.client_id, broker.clock()
    )
    family = rotation.family
    if rotation.outcome == "reused" and family is not None:
        await broker.trail.event(
            "refresh_reuse",
            actor=family.person.label,
            outcome="forbidden",
            target=client.client_id,
            source_ip=source_ip,
            reasons=["a rotated refresh token was used again: its family is revoked"],
            details={"family": family.id, "refresh_token_sha256": digest(presented)},
        )
    if rotation.outcome != "rotated" or family is None:
        raise OAuthError("invalid_grant", "the refresh token is not valid")
    scope = form.get("scope", family.scope)
    if not set(scope.split()) <= set(family.scope.split()):
        raise OAuthError("invalid_scope", "scope is wider than the one granted")
    if form.get("resource", family.resource) != family.resource:
        raise OAuthError("invalid_target", "resource is not the one of the authorization")
    person = await _refreshed_person(broker, client, family, source_ip)
    body = await _issue(
        broker,
        client,
        resource=family.resource,
        scope=scope,
        person=person,
        refresh_token=new,
    )
    await _audit_issue(broker, client, person, "refresh_token", body, source_ip)
    return body


async def _refreshed_person(
    broker: Broker, client: ClientRecord, family: Family, source_ip: str | None
) -> Person:
    """The person as the IdP describes them now: refreshed there first when the sign-in left an
    IdP refresh token (else as at sign-in). A refusal there revokes the family."""
    if family.idp_refresh_token is None:
        return family.person
    now = broker.clock()
    try:
        if broker.idp is None:
            raise SignInError("no identity provider is configured any more")
        refreshed = await broker.idp.refresh(family.idp_refresh_token, family.person)
    except SignInError as exc:
        await broker.store.revoke_family(family.id, "idp_refused", now)
        await broker.trail.event(
            "refresh_refused",
            actor=family.person.label,
            outcome="forbidden",
            target=client.client_id,
            source_ip=source_ip,
            reasons=[exc.message[:200]],
            details={"family": family.id},
        )
        raise OAuthError(
            "invalid_grant", "the identity provider no longer accepts this sign-in"
        ) from exc
    await broker.store.refreshed(family.id, refreshed.person, refreshed.refresh_token, now)
    return refreshed.person


async def _audit_issue(
    broker: Broker,
    client: ClientRecord,
    person: Person,
    grant_type: str,
    body: Mapping[str, Any],
    source_ip: str | None,
) -> None:
    await broker.trail.event(
        "token",
        actor=person.label,
        outcome="allowed",
        target=client.client_id,
        source_ip=source_ip,
        details={
            "grant_type": grant_type,
            "scope": body["scope"],
            "access_token_sha256": digest(body["access_token"]),
        },
    )


async def exchange(
    broker: Broker, form: Mapping[str, str], authorization: str | None, source_ip: str | None
) -> dict[str, Any]:
    """A token request (RFC 6749 §4.1.3, §6)."""
    grant_type = form.get("grant_type")
    if grant_type not in ("authorization_code", "refresh_token"):
        raise OAuthError(
            "unsupported_grant_type", "grant_type: authorization_code or refresh_token"
        )
    client = await authenticate_client(broker, form, authorization)
    if grant_type == "authorization_code":
        return await _authorization_code(broker, client, form, source_ip)
    return await _refresh_token(broker, client, form, source_ip)


async def register(broker: Broker, body: Any, source_ip: str | None) -> dict[str, Any]:
    """A dynamic client registration (RFC 7591 §3.2.1 response)."""
    now = broker.clock()
    await broker.store.purge(now)  # unused registrations past their expiry, old codes
    recent = await broker.store.registrations_since(source_ip, now - timedelta(minutes=1))
    if recent >= broker.config.registrations_per_minute:
        raise OAuthError(
            "slow_down", "too many registrations from this address; retry later", status=429
        )
    registration = parse_registration(body)
    client_id = "giru_client_" + secrets.token_urlsafe(16)
    secret = None if registration.auth_method == "none" else new_secret(SECRET_PREFIX)
    expires = now + timedelta(seconds=broker.config.registration_expiry_s)
    client = await broker.store.register(
        client_id,
        registration,
        secret_hash=digest(secret) if secret is not None else None,
        source_ip=source_ip,
        now=now,
        expires_at=expires,
    )
    await broker.trail.event(
        "register",
        actor="anonymous",
        outcome="allowed",
        target=client_id,
        source_ip=source_ip,
        details={"client_name": client.name, "redirect_uris": list(client.redirect_uris)},
    )
    response: dict[str, Any] = {
        "client_id": client_id,
        "client_id_issued_at": int(now.timestamp()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "token_endpoint_auth_method": client.auth_method,
        "grant_types": sorted(client.grant_types),
        "response_types": ["code"],
        **registration.metadata,
    }
    if secret is not None:
        response |= {"client_secret": secret, "client_secret_expires_at": 0}
    return response


async def revoke(
    broker: Broker, form: Mapping[str, str], authorization: str | None, source_ip: str | None
) -> None:
    """RFC 7009: revoke a refresh token's family; unknown tokens are answered the same way."""
    client = await authenticate_client(broker, form, authorization)
    token = _required(form, "token")
    family = await broker.store.revoke_token(digest(token), client.client_id, broker.clock())
    if family is not None:
        await broker.trail.event(
            "revoke",
            actor=family.person.label,
            outcome="allowed",
            target=client.client_id,
            source_ip=source_ip,
            details={"family": family.id, "token_sha256": digest(token)},
        )
