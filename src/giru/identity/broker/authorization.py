"""The browser side: `/authorize` → sign-in at the IdP → consent → the code to the client.

Until the client and its redirect URI are known to be valid, errors are pages (RFC 6749
§4.1.2.1: never redirect to an unchecked URI); after that they go back to the client's redirect
URI with `error`, `state` and `iss` (RFC 9207).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from giru.errors import ConflictError
from giru.identity.broker.clients import ClientRecord, exact_redirect
from giru.identity.broker.errors import OAuthError
from giru.identity.broker.flows import Flow, browser_hash
from giru.identity.broker.metadata import CONSENT, SCOPES
from giru.identity.broker.pkce import check_challenge
from giru.identity.broker.relying_party import SignInError
from giru.identity.broker.server import Broker, PageError, Redirect, with_query
from giru.identity.broker.storage import CodeGrant
from giru.identity.broker.tokens import CODE_PREFIX, digest, new_secret

__all__ = ["ConsentView", "answer_consent", "authorize", "consent_view", "idp_callback"]

_MAX_STATE = 2048
_DEFAULT_SCOPE = "mcp"


def _error(broker: Broker, redirect_uri: str, state: str | None, exc: OAuthError) -> Redirect:
    params = {
        "error": exc.error,
        "error_description": exc.description,
        "state": state,
        "iss": broker.config.issuer,
    }
    return Redirect(with_query(redirect_uri, params))


async def _checked_client(broker: Broker, params: Mapping[str, str]) -> tuple[ClientRecord, str]:
    client_id = params.get("client_id")
    if not client_id:
        raise PageError("Unknown application", "The request names no client_id.")
    try:
        client = await broker.client(client_id)
    except OAuthError as exc:
        raise PageError("Unknown application", exc.description) from exc
    if client is None:
        raise PageError("Unknown application", "This client is not registered (or expired).")
    try:
        return client, exact_redirect(client, params.get("redirect_uri"))
    except OAuthError as exc:
        raise PageError("Invalid redirect URI", exc.description) from exc


def _resource(broker: Broker, params: Mapping[str, str]) -> str:
    resource = params.get("resource") or broker.config.issuer + "/mcp"
    if resource not in broker.resources():
        raise OAuthError("invalid_target", "resource is not an endpoint of this Giru")
    return resource


def _scope(params: Mapping[str, str]) -> str:
    requested = (params.get("scope") or _DEFAULT_SCOPE).split()
    unknown = [s for s in requested if s not in SCOPES]
    if unknown:
        raise OAuthError("invalid_scope", f"scope not offered: {' '.join(unknown)[:100]}")
    return " ".join(dict.fromkeys(requested))


async def authorize(broker: Broker, params: Mapping[str, str] | OAuthError) -> Redirect:
    """Check an authorization request and send the browser to sign in at the IdP."""
    if isinstance(params, OAuthError):  # repeated parameters: nothing is trustworthy
        raise PageError("Invalid request", params.description)
    client, redirect_uri = await _checked_client(broker, params)
    state = params.get("state")
    try:
        if state is not None and len(state) > _MAX_STATE:
            state = None
            raise OAuthError("invalid_request", f"state is longer than {_MAX_STATE}")
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        challenge = check_challenge(
            params.get("code_challenge"), params.get("code_challenge_method")
        )
        resource, scope = _resource(broker, params), _scope(params)
        if broker.idp is None:
            raise OAuthError("temporarily_unavailable", "no identity provider is configured")
        cookie = secrets.token_urlsafe(32)
        now = broker.clock()
        flow = Flow(
            flow_id=secrets.token_urlsafe(24),
            client_id=client.client_id,
            client_name=client.name,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=challenge,
            resource=resource,
            scope=scope,
            expires_at=int(now.timestamp()) + broker.config.sign_in_ttl_s,
            browser=browser_hash(cookie),
            idp_nonce=secrets.token_urlsafe(24),
            idp_verifier=secrets.token_urlsafe(48),
        )
        location = await broker.idp.authorization_url(
            state=broker.flows.seal(flow), nonce=flow.idp_nonce, verifier=flow.idp_verifier
        )
    except OAuthError as exc:
        return _error(broker, redirect_uri, state, exc)
    except SignInError:
        failed = OAuthError("temporarily_unavailable", "the identity provider cannot be reached")
        return _error(broker, redirect_uri, state, failed)
    return Redirect(location, cookie=cookie)


def _open(broker: Broker, sealed: str | None, cookie: str | None, *, consent: bool) -> Flow:
    if not sealed:
        raise PageError("Sign-in not found", "The request carries no sign-in.")
    now = int(broker.clock().timestamp())
    try:
        return broker.flows.open(sealed, consent=consent, browser_cookie=cookie, now=now)
    except ValueError as exc:
        raise PageError("Sign-in not accepted", str(exc), status=400) from exc


async def idp_callback(
    broker: Broker, params: Mapping[str, str], cookie: str | None, source_ip: str | None
) -> Redirect:
    """The IdP sent the browser back: check the sign-in, then ask for consent."""
    flow = _open(broker, params.get("state"), cookie, consent=False)
    code = params.get("code")
    if broker.idp is None or not code:
        refused = OAuthError("access_denied", "sign-in at the identity provider did not complete")
        await broker.trail.event(
            "sign_in",
            actor="unauthenticated",
            outcome="unauthenticated",
            target=flow.client_id,
            source_ip=source_ip,
            reasons=[f"identity provider answered {params.get('error', 'no code')}"[:120]],
        )
        return _error(broker, flow.redirect_uri, flow.state, refused)
    try:
        signed_in = await broker.idp.sign_in(
            code=code, verifier=flow.idp_verifier, nonce=flow.idp_nonce
        )
    except SignInError as exc:
        await broker.trail.event(
            "sign_in",
            actor="unauthenticated",
            outcome="unauthenticated",
            target=flow.client_id,
            source_ip=source_ip,
            reasons=[exc.message[:200]],
        )
        failed = OAuthError("access_denied", "sign-in at the identity provider failed")
        return _error(broker, flow.redirect_uri, flow.state, failed)
    person = signed_in.person
    await broker.trail.event(
        "sign_in",
        actor=person.label,
        outcome="allowed",
        target=flow.client_id,
        source_ip=source_ip,
        details={"subject": person.subject, "amr": list(person.amr)},
    )
    sealed = broker.flows.seal(flow.with_person(person, signed_in.refresh_token))
    return Redirect(with_query(broker.config.issuer + CONSENT, {"flow": sealed}))


@dataclass(frozen=True, slots=True)
class ConsentView:
    flow: Flow
    sealed: str
    csrf: str


def consent_view(broker: Broker, sealed: str | None, cookie: str | None) -> ConsentView:
    flow = _open(broker, sealed, cookie, consent=True)
    assert sealed is not None  # _open refused otherwise
    assert cookie is not None
    return ConsentView(flow, sealed, broker.flows.csrf_token(flow.flow_id, cookie))


async def answer_consent(
    broker: Broker, form: Mapping[str, str], cookie: str | None, source_ip: str | None
) -> Redirect:
    """The person allowed or denied: the code (or `access_denied`) goes to the client."""
    flow = _open(broker, form.get("flow"), cookie, consent=True)
    assert cookie is not None  # _open refused otherwise
    assert flow.person is not None  # a consent-stage flow
    if not broker.flows.csrf_matches(form.get("csrf"), flow.flow_id, cookie):
        raise PageError("Request not accepted", "The form's CSRF token is not valid.", status=403)
    person = flow.person
    allowed = form.get("decision") == "allow"
    await broker.trail.event(
        "consent",
        actor=person.label,
        outcome="allowed" if allowed else "forbidden",
        target=flow.client_id,
        source_ip=source_ip,
        details={"scope": flow.scope, "resource": flow.resource},
    )
    if not allowed:
        denied = OAuthError("access_denied", "the person did not allow access")
        return _error(broker, flow.redirect_uri, flow.state, denied)
    code = new_secret(CODE_PREFIX)
    now = broker.clock()
    grant = CodeGrant(
        client_id=flow.client_id,
        redirect_uri=flow.redirect_uri,
        code_challenge=flow.code_challenge,
        resource=flow.resource,
        scope=flow.scope,
        person=person,
        expires_at=now + timedelta(seconds=broker.config.code_ttl_s),
        idp_refresh_token=flow.idp_refresh_token,
    )
    try:
        await broker.store.save_code(digest(code), flow.flow_id, grant, now)
    except ConflictError as exc:
        raise PageError("Already answered", "This sign-in was answered already.") from exc
    await broker.store.client_used(flow.client_id, now)
    params = {"code": code, "state": flow.state, "iss": broker.config.issuer}
    return Redirect(with_query(flow.redirect_uri, params))
