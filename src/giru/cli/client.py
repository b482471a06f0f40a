"""A small synchronous client for Giru's REST API (`/api/v1`), used by the CLI.

Errors come back as `ApiError` carrying the problem+json `code`, HTTP `status` and field
`errors`; the bearer token is sent in a header and never appears in messages or reprs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from giru.cli.problems import ApiError

__all__ = ["DEFAULT_TIMEOUT", "ApiClient", "ApiError"]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_PAGE = 500


class ApiClient:
    """`GET`/`POST`/`PUT`/`DELETE` JSON against `<url>/api/v1/...` with a bearer token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

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
        self._http.close()

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
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.TimeoutException as exc:
            raise ApiError(
                f"{self.url}: timed out ({type(exc).__name__})", code="timeout", status=0
            ) from exc
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach {self.url}: {exc}", code="unreachable", status=0) from exc
        if response.is_error:
            raise _problem(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                f"{method} {path}: the response is not JSON", code="bad_response", status=0
            ) from exc


def _problem(response: httpx.Response) -> ApiError:
    """An `ApiError` from an RFC 9457 problem+json body (or a plain HTTP error)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        reason = response.reason_phrase or "error"
        status = response.status_code
        return ApiError(f"HTTP {status} {reason}", code="http_error", status=status)
    message = body.get("detail") or body.get("title") or f"HTTP {response.status_code}"
    errors = body.get("errors")
    return ApiError(
        str(message),
        code=str(body.get("code") or "http_error"),
        status=response.status_code,
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else None,
    )
