"""The body guard: JSON media types only, and a size limit whether or not a length is declared."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from giru.api.bodies import BodyGuard, is_json


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/merge-patch+json", True),
        ("application/jsonx", False),
        ("text/json", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_json_media_types(content_type: str | None, expected: bool) -> None:
    assert is_json(content_type) is expected


class _Echo:
    """An app that reads the whole body and answers 200 with its length."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


async def _call(
    app: BodyGuard, method: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, Any] | None]:
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": "/api/v1/servers",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    problem = json.loads(body) if sent[0]["status"] != 200 else None
    return sent[0]["status"], problem


JSON = {"content-type": "application/json"}


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    inner = _Echo()
    guard = BodyGuard(inner, limit=10)

    status, problem = await _call(guard, "POST", {**JSON, "content-length": "11"}, [b"x" * 11])

    assert status == 413
    assert problem is not None
    assert problem["code"] == "body_too_large"
    assert not inner.called


async def test_a_chunked_body_is_cut_off_once_past_the_limit() -> None:
    guard = BodyGuard(_Echo(), limit=10)

    with pytest.raises(HTTPException) as caught:
        await _call(guard, "POST", {**JSON, "transfer-encoding": "chunked"}, [b"x" * 6] * 2)

    assert caught.value.status_code == 413


async def test_bodies_within_the_limit_pass_through() -> None:
    guard = BodyGuard(_Echo(), limit=10)

    status, _ = await _call(guard, "PUT", {**JSON, "content-length": "10"}, [b"x" * 10])

    assert status == 200


@pytest.mark.parametrize("headers", [{"content-length": "2"}, {"content-type": "text/plain"}])
async def test_a_body_that_is_not_json_is_415(headers: dict[str, str]) -> None:
    guard = BodyGuard(_Echo(), limit=10)

    status, problem = await _call(guard, "POST", {"content-length": "2", **headers}, [b"{}"])

    assert status == 415
    assert problem is not None
    assert problem["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("method", "headers"),
    [("POST", {}), ("POST", {"content-length": "0"}), ("GET", {"content-length": "99"})],
)
async def test_requests_without_a_body_need_no_content_type(
    method: str, headers: dict[str, str]
) -> None:
    guard = BodyGuard(_Echo(), limit=10)

    status, _ = await _call(guard, method, headers, [b""])

    assert status == 200
