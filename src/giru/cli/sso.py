"""`giru login --sso`: a person signs in to the API with the company IdP (RFC 8252 loopback flow).

The CLI listens once on `http://127.0.0.1:<free port>/callback`, registers itself with Giru's
authorization server for that redirect URI (RFC 7591, a public client), and sends the browser to
`/oauth/authorize` with PKCE S256, a random `state` and `resource` = the API (`<issuer>/api`,
RFC 8707). Giru signs the person in at the IdP and redirects back with a code (and `iss`,
RFC 9207), which the CLI redeems for an access token whose audience is the API.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from giru.cli.client import ApiError
from giru.errors import UnauthenticatedError

__all__ = ["SignIn", "sign_in"]

_CALLBACK = "/callback"
_METADATA = "/.well-known/oauth-authorization-server"
_HTTP_TIMEOUT_S = 10.0
_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Giru sign-in</title>"
    b"<p>%s You can close this window and return to the terminal.</p></html>"
)


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome: an access token for the API and when it expires (seconds from now)."""

    access_token: str
    expires_in: int


class _Callback(BaseHTTPRequestHandler):
    """Takes the one redirect back from the authorization server."""

    server: _Listener

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != _CALLBACK:
            self.send_error(404)
            return
        self.server.answer = {k: v[0] for k, v in parse_qs(parts.query).items() if len(v) == 1}
        ok = "code" in self.server.answer
        body = _PAGE % (b"Signed in." if ok else b"Sign-in failed.")
        self.send_response(200 if ok else 400)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("cache-control", "no-store")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the query holds the code."""


class _Listener(HTTPServer):
    answer: dict[str, str] | None = None

    def wait(self, timeout_s: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while self.answer is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise UnauthenticatedError(f"no sign-in within {timeout_s:.0f} s")
            self.timeout = min(left, 1.0)
            self.handle_request()
        return self.answer


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code not in (200, 201):
        detail = response.text[:300]
        raise UnauthenticatedError(f"{what} answered {response.status_code}: {detail}")
    body = response.json()
    if not isinstance(body, dict):
        raise UnauthenticatedError(f"{what} answered something other than a JSON object")
    return body


def _endpoint(metadata: dict[str, Any], name: str) -> str:
    value = metadata.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise UnauthenticatedError(f"the authorization server metadata has no {name}")
    return value


def sign_in(url: str, browse: Callable[[str], object], *, timeout_s: float = 300.0) -> SignIn:
    """Signs a person in to the Giru at `url`; `browse(authorization_url)` shows the page to
    them (it must not wait for the sign-in to end).

    Raises:
        UnauthenticatedError: no authorization server, a refused or abandoned sign-in.
        ApiError: Giru cannot be reached.
    """
    try:
        return _sign_in(url, browse, timeout_s)
    except httpx.HTTPError as exc:
        raise ApiError(f"cannot reach {url}: {exc}", code="unreachable", status=0) from exc
    except ValueError as exc:  # a body that is not JSON
        raise UnauthenticatedError(f"{url} is not a Giru authorization server") from exc


def _sign_in(url: str, browse: Callable[[str], object], timeout_s: float) -> SignIn:
    with httpx.Client(timeout=_HTTP_TIMEOUT_S) as http:
        metadata = _json(http.get(url + _METADATA), "the authorization server metadata")
        issuer = str(metadata.get("issuer", ""))
        with _Listener(("127.0.0.1", 0), _Callback) as listener:
            redirect_uri = f"http://127.0.0.1:{listener.server_address[1]}{_CALLBACK}"
            registration = {
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code"],
                "client_name": "giru CLI",
            }
            registered = _json(
                http.post(_endpoint(metadata, "registration_endpoint"), json=registration),
                "client registration",
            )
            client_id = str(registered["client_id"])
            verifier, challenge = _pkce()
            state = secrets.token_urlsafe(24)
            query = {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": issuer + "/api",
            }
            browse(_endpoint(metadata, "authorization_endpoint") + "?" + urlencode(query))
            answer = listener.wait(timeout_s)
        _check(answer, state, issuer)
        form = {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": client_id,
            "resource": issuer + "/api",
        }
        tokens = _json(http.post(_endpoint(metadata, "token_endpoint"), data=form), "the token")
    return SignIn(str(tokens["access_token"]), int(tokens.get("expires_in", 0)))


def _check(answer: dict[str, str], state: str, issuer: str) -> None:
    if not secrets.compare_digest(answer.get("state", ""), state):
        raise UnauthenticatedError("the sign-in came back with another state: not this login")
    if answer.get("iss") != issuer:  # RFC 9207: a mix-up with another authorization server
        raise UnauthenticatedError("the sign-in came back from another issuer")
    if "error" in answer:
        reason = answer.get("error_description") or answer["error"]
        raise UnauthenticatedError(f"sign-in refused: {reason[:200]}")
    if not answer.get("code"):
        raise UnauthenticatedError("the sign-in came back without a code")
