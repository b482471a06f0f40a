"""A sign-in in progress, sealed into what travels through the browser.

`/authorize` seals the checked request into the IdP's `state`; the IdP callback opens it,
adds the person and seals it into the consent form. Each stage is bound to the browser that
started it (a random cookie whose SHA-256 is inside the sealed flow) and expires; the consent
form also carries a CSRF token derived from that cookie. No server-side session is needed, and
a flow can only be answered once (its `flow_id` is unique among codes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Final

from giru.identity.broker.people import person_from_json, person_json
from giru.identity.broker.sealing import Sealer
from giru.identity.people import Person

__all__ = ["Flow", "FlowSeal", "browser_hash"]

_SIGN_IN: Final = b"giru sign-in"
_CONSENT: Final = b"giru consent"


@dataclass(frozen=True, slots=True)
class Flow:
    """One authorization request on its way through sign-in and consent."""

    flow_id: str
    client_id: str
    client_name: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    resource: str
    scope: str
    expires_at: int  # epoch seconds
    browser: str  # SHA-256 of the browser's flow cookie
    idp_nonce: str
    idp_verifier: str
    person: Person | None = None
    idp_refresh_token: str | None = None
    """The IdP's refresh token of the sign-in (sealed with the rest of the flow)."""

    def with_person(self, person: Person, idp_refresh_token: str | None = None) -> Flow:
        return dataclasses.replace(self, person=person, idp_refresh_token=idp_refresh_token)


class FlowSeal:
    """Seals flows for the IdP round trip and for the consent form."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer.derive("giru identity flows")
        self._csrf_key = sealer.secret("giru identity csrf")

    def seal(self, flow: Flow) -> str:
        stage = _SIGN_IN if flow.person is None else _CONSENT
        body = dataclasses.asdict(flow)
        if flow.person is not None:
            body["person"] = person_json(flow.person)
        return self._sealer.seal(json.dumps(body, separators=(",", ":")).encode(), stage)

    def open(self, token: str, *, consent: bool, browser_cookie: str | None, now: int) -> Flow:
        """The flow sealed in `token`; `ValueError` when it is not ours, expired, of the other
        stage, or was started by another browser."""
        if browser_cookie is None:
            raise ValueError("no sign-in cookie: start again from the application")
        body: dict[str, Any] = json.loads(
            self._sealer.open(token, _CONSENT if consent else _SIGN_IN)
        )
        person = body.pop("person")
        flow = Flow(**body, person=person_from_json(person) if person is not None else None)
        if flow.expires_at <= now:
            raise ValueError("the sign-in took too long: start again from the application")
        if not hmac.compare_digest(flow.browser, browser_hash(browser_cookie)):
            raise ValueError("this sign-in was started in another browser")
        return flow

    def csrf_token(self, flow_id: str, browser_cookie: str) -> str:
        message = f"{flow_id}\n{browser_cookie}".encode()
        return hmac.new(self._csrf_key, message, hashlib.sha256).hexdigest()

    def csrf_matches(self, token: str | None, flow_id: str, browser_cookie: str) -> bool:
        return token is not None and hmac.compare_digest(
            token, self.csrf_token(flow_id, browser_cookie)
        )


def browser_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()
