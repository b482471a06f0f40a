"""The authorization server over HTTP (Starlette): public endpoints, no admin authentication.

Each handler parses, calls one function of `authorization` or `grants`, and renders: OAuth
errors as RFC 6749 §5.2 JSON (`Cache-Control: no-store`), page errors as small HTML pages,
redirects as 302 (authorization responses) or 303 (after the consent form).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import orjson
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from giru.identity.broker import authorization, grants
from giru.identity.broker.errors import OAuthError
from giru.identity.broker.metadata import (
    CALLBACK,
    CONSENT,
    PATHS,
    metadata_document,
    well_known_paths,
)
from giru.identity.broker.pages import consent_page, error_page
from giru.identity.broker.server import Broker, PageError, Redirect, single_params

__all__ = ["broker_app", "is_broker_path"]

_MAX_BODY: Final = 64 * 1024
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE_HEADERS: Final = {
    **_NO_STORE,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_log = structlog.get_logger(__name__)
Handler = Callable[[Request], Awaitable[Response]]


def is_broker_path(path: str) -> bool:
    return path.startswith(
        ("/oauth/", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
    )


def _cookie_name(broker: Broker) -> str:
    return "__Host-giru-sign-in" if broker.config.secure_cookies else "giru-sign-in"


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="giru"'
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _page_error(exc: PageError) -> HTMLResponse:
    return HTMLResponse(
        error_page(exc.title, exc.message), status_code=exc.status, headers=_PAGE_HEADERS
    )


def _redirect(broker: Broker, redirect: Redirect, status: int = 302) -> Response:
    response = RedirectResponse(redirect.location, status_code=status, headers=_NO_STORE)
    if redirect.cookie is not None:
        response.set_cookie(
            _cookie_name(broker),
            redirect.cookie,
            max_age=broker.config.sign_in_ttl_s,
            path="/",
            secure=broker.config.secure_cookies,
            httponly=True,
            samesite="lax",
        )
    return response


async def _body(request: Request, media_type: str) -> bytes:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != media_type:
        raise OAuthError("invalid_request", f"the body must be {media_type}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise OAuthError("invalid_request", "the body is too large")
    return body


async def _form(request: Request) -> dict[str, str]:
    body = await _body(request, "application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_request", "the form cannot be read") from exc
    return single_params(pairs)


def _source(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


class _Endpoints:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def metadata(self, _request: Request) -> Response:
        document = metadata_document(self.broker.config.issuer)
        return JSONResponse(document, headers={"Access-Control-Allow-Origin": "*"})

    async def jwks(self, _request: Request) -> Response:
        keys = await self.broker.keys.published(self.broker.clock())
        headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=300"}
        return JSONResponse(keys, headers=headers)

    async def authorize(self, request: Request) -> Response:
        try:
            params: dict[str, str] | OAuthError = single_params(
                parse_qsl(request.url.query, keep_blank_values=True)
            )
        except OAuthError as exc:
            params = exc
        try:
            return _redirect(self.broker, await authorization.authorize(self.broker, params))
        except PageError as exc:
            return _page_error(exc)

    def _cookie(self, request: Request) -> str | None:
        return request.cookies.get(_cookie_name(self.broker))

    async def callback(self, request: Request) -> Response:
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        try:
            redirect = await authorization.idp_callback(
                self.broker, params, self._cookie(request), _source(request)
            )
        except PageError as exc:
            return _page_error(exc)
        return _redirect(self.broker, redirect, 303)

    async def consent(self, request: Request) -> Response:
        cookie = self._cookie(request)
        try:
            if request.method == "GET":
                view = authorization.consent_view(
                    self.broker, request.query_params.get("flow"), cookie
                )
                return self._consent_page(view)
            try:
                form = await _form(request)
            except OAuthError as exc:
                raise PageError("Request not accepted", exc.description) from exc
            redirect = await authorization.answer_consent(
                self.broker, form, cookie, _source(request)
            )
        except PageError as exc:
            return _page_error(exc)
        return _redirect(self.broker, redirect, 303)

    def _consent_page(self, view: authorization.ConsentView) -> Response:
        flow = view.flow
        assert flow.person is not None
        html = consent_page(
            client_name=flow.client_name,
            client_id=flow.client_id,
            person=flow.person.label,
            scopes=flow.scope.split(),
            resource=flow.resource,
            flow=view.sealed,
            csrf=view.csrf,
            action=self.broker.config.issuer + CONSENT,
        )
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    async def token(self, request: Request) -> Response:
        try:
            form = await _form(request)
            body = await grants.exchange(
                self.broker, form, request.headers.get("authorization"), _source(request)
            )
        except OAuthError as exc:
            return _oauth_error(exc)
        return JSONResponse(body, headers=_NO_STORE)

    async def register(self, request: Request) -> Response:
        try:
            raw = await _body(request, "application/json")
            try:
                document: Any = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise OAuthError("invalid_client_metadata", "the body is not JSON") from exc
            body = await grants.register(self.broker, document, _source(request))
        except OAuthError as exc:
            return _oauth_error(exc)
        return JSONResponse(body, status_code=201, headers=_NO_STORE)

    async def revoke(self, request: Request) -> Response:
        try:
            form = await _form(request)
            await grants.revoke(
                self.broker, form, request.headers.get("authorization"), _source(request)
            )
        except OAuthError as exc:
            return _oauth_error(exc)
        return Response(status_code=200, headers=_NO_STORE)


def broker_app(broker: Broker) -> Starlette:
    """The ASGI app serving the authorization server's endpoints at their full paths."""
    endpoints = _Endpoints(broker)
    issuer_path = urlsplit(broker.config.issuer).path
    routes = [
        Route(path, endpoints.metadata, methods=["GET"]) for path in well_known_paths(issuer_path)
    ]
    routes += [
        Route(PATHS["jwks_uri"], endpoints.jwks, methods=["GET"]),
        Route(PATHS["authorization_endpoint"], endpoints.authorize, methods=["GET"]),
        Route(CALLBACK, endpoints.callback, methods=["GET"]),
        Route(CONSENT, endpoints.consent, methods=["GET", "POST"]),
        Route(PATHS["token_endpoint"], endpoints.token, methods=["POST"]),
        Route(PATHS["registration_endpoint"], endpoints.register, methods=["POST"]),
        Route(PATHS["revocation_endpoint"], endpoints.revoke, methods=["POST"]),
    ]
    return Starlette(routes=routes)
