"""The browser side of connections (Starlette, public paths, no admin authentication):

- `GET /oauth/connect?state=…`: the page a URL elicitation points at: a redirect to the
  authorization request of the flow the state holds;
- `GET /oauth/callback`: where the authorization server sends the browser back; the code is
  redeemed and a small page says whether the connection was made;
- `GET /oauth/client-metadata.json`: Giru's Client ID Metadata Document.
"""

from __future__ import annotations

from html import escape
from typing import Final

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from giru.credentials.connections.flows import CONNECT_PATH, ConnectionFlows
from giru.credentials.connections.registration import (
    CALLBACK_PATH,
    CLIENT_METADATA_PATH,
    client_metadata,
)
from giru.credentials.connections.states import StateError
from giru.credentials.oauth import TokenEndpointError
from giru.errors import GiruError, ValidationError

__all__ = ["PAGE_PATHS", "connection_pages"]

PAGE_PATHS: Final = frozenset({CONNECT_PATH, CALLBACK_PATH, CLIENT_METADATA_PATH})
_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_log = structlog.get_logger(__name__)


def _page(status: int, title: str, message: str) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · Giru</title></head><body><main>"
        f'<h1 role="{"status" if status < 400 else "alert"}">{escape(title)}</h1>'
        f"<p>{escape(message)}</p></main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ValidationError(f"{name} was given more than once")
    return values[0] if values else None


def _status(exc: GiruError) -> int:
    """400 for what the browser brought (a bad state, an error, a code the authorization
    server refuses), 502 when an authorization server could not be reached or misbehaved."""
    refused = isinstance(exc, TokenEndpointError) and exc.status is not None and exc.status < 500
    return 400 if isinstance(exc, ValidationError) or refused else 502


def connection_pages(flows: ConnectionFlows, base_url: str) -> Starlette:
    async def connect(request: Request) -> Response:
        try:
            state = _single(request, "state")
            if state is None:
                raise StateError("no state: open the link Giru gave you")
            url = await flows.authorization_url(state)
        except GiruError as exc:
            return _page(
                400 if isinstance(exc, ValidationError) else 502, "Cannot connect", exc.message
            )
        return RedirectResponse(url, status_code=302, headers=_HEADERS)

    async def callback(request: Request) -> Response:
        try:
            state = _single(request, "state")
            if state is None:
                raise StateError("no state in the answer of the authorization server")
            connection = await flows.finish(
                state,
                code=_single(request, "code"),
                iss=_single(request, "iss"),
                error=_single(request, "error"),
            )
        except GiruError as exc:
            _log.info("connection_callback_refused", code=exc.code, error=exc.message)
            return _page(_status(exc), "Not connected", exc.message)
        return _page(
            200,
            "Connected",
            f"{connection.server} is connected for {connection.label}. You can close this "
            "window and retry in your application.",
        )

    async def metadata(request: Request) -> Response:
        return JSONResponse(client_metadata(base_url), headers={"Cache-Control": "max-age=300"})

    return Starlette(
        routes=[
            Route(CONNECT_PATH, connect, methods=["GET"]),
            Route(CALLBACK_PATH, callback, methods=["GET"]),
            Route(CLIENT_METADATA_PATH, metadata, methods=["GET"]),
        ]
    )
