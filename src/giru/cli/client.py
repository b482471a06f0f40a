"""A small synchronous client for Giru's REST API (`/api/v1`), used by the CLI.

Errors come back as `ApiError` carrying the problem+json `code`, HTTP `status` and field
`errors`; the bearer token is sent in a header and never appears in messages or reprs.

Built on the standard library's `http.client` (TLS through `ssl` with the system's trust store,
which honours `SSL_CERT_FILE`/`SSL_CERT_DIR`; no proxy support): an API command should start
at once, and an HTTP library's import is most of a CLI command's start-up (bench/startup.py).
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

from giru.cli.problems import ApiError

__all__ = ["DEFAULT_TIMEOUT", "ApiClient", "ApiError", "Timeout"]

_PAGE = 500


@dataclass(frozen=True, slots=True)
class Timeout:
    """Seconds to connect (TLS handshake included), and to wait for each read or write."""

    connect: float
    read: float


DEFAULT_TIMEOUT = Timeout(connect=5.0, read=30.0)


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    reason: str
    content: bytes


class ApiClient:
    """`GET`/`POST`/`PUT`/`DELETE` JSON against `<url>/api/v1/...` with a bearer token."""

    def __init__(self, url: str, token: str, *, timeout: Timeout = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(f"{self.url}: not an http(s) URL", code="bad_url", status=0)
        self._secure = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = f"{parts.path.rstrip('/')}/api/v1"
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def __repr__(self) -> str:
        return f"ApiClient({self.url!r})"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: Mapping[str, str] | None = None) -> Any:
        return self.request("POST", path, body=body, params=params)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def list_all(self, path: str, params: Mapping[str, str] | None = None) -> Iterator[Any]:
        """Every item of a paginated list, following `nextCursor`."""
        query = {**(params or {}), "limit": str(_PAGE)}
        while True:
            page = self.get(path, query)
            yield from page.get("items", [])
            cursor = page.get("nextCursor")
            if not cursor:
                return
            query["cursor"] = cursor

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON body (None when empty); raises `ApiError` on any failure."""
        target = f"{self._prefix}{path}" + (f"?{urlencode(params)}" if params else "")
        content = None if body is None else _encode(body)
        try:
            response = self._exchange(method, target, content)
        except TimeoutError as exc:
            self.close()
            raise ApiError(
                f"{self.url}: timed out ({type(exc).__name__})", code="timeout", status=0
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            reason = str(exc) or type(exc).__name__
            raise ApiError(
                f"cannot reach {self.url}: {reason}", code="unreachable", status=0
            ) from exc
        if response.status >= 400:
            raise _problem(response)
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise ApiError(
                f"{method} {path}: the response is not JSON", code="bad_response", status=0
            ) from exc

    def _exchange(self, method: str, target: str, content: bytes | None) -> _Response:
        """One request and its whole response over the kept-alive connection (a new one when
        the server has closed it meanwhile)."""
        connection = self._connected()
        headers = dict(self._headers)
        if content is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, target, body=content, headers=headers)
        answer = connection.getresponse()
        response = _Response(answer.status, answer.reason, answer.read())
        if answer.will_close:
            self.close()
        return response

    def _connected(self) -> http.client.HTTPConnection:
        if self._connection is not None and _closed_by_peer(self._connection):
            self.close()
        if self._connection is None:
            connection = self._open()
            connection.connect()
            if connection.sock is not None:  # connected: from now on, each read or write
                connection.sock.settimeout(self._timeout.read)
            self._connection = connection
        return self._connection

    def _open(self) -> http.client.HTTPConnection:
        if self._secure:
            return http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=self._timeout.connect,
                context=ssl.create_default_context(),
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout.connect)


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle kept-alive socket that is readable has been closed (or broken) by the server."""
    sock = connection.sock
    if sock is None:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _problem(response: _Response) -> ApiError:
    """An `ApiError` from an RFC 9457 problem+json body (or a plain HTTP error)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        reason = response.reason or "error"
        status = response.status
        return ApiError(f"HTTP {status} {reason}", code="http_error", status=status)
    message = body.get("detail") or body.get("title") or f"HTTP {response.status}"
    errors = body.get("errors")
    return ApiError(
        str(message),
        code=str(body.get("code") or "http_error"),
        status=response.status,
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else None,
    )
