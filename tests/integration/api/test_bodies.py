"""Request bodies: JSON only, at most 1 MiB, and JSON that parses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.api.conftest import server_doc

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


async def test_a_declared_body_over_1_mib_is_413(api: httpx.AsyncClient) -> None:
    padding = "x" * MIB
    response = await api.post("/api/v1/servers", json=server_doc("files", cwd=padding))

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "body_too_large"


async def test_a_chunked_body_over_1_mib_is_413(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"metadata": {"name": "files"}, "spec": {"cwd": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}}'

    response = await api.post(
        "/api/v1/servers", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_bodies_that_are_not_json_are_415(
    api: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = await api.post("/api/v1/servers", content=b"{}", headers=headers)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(api: httpx.AsyncClient) -> None:
    for name, content_type in (
        ("a", "application/json; charset=utf-8"),
        ("b", "application/x+json"),
    ):
        response = await api.post(
            "/api/v1/servers",
            content=httpx.Request("POST", "/", json=server_doc(name)).content,
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 201, response.text


async def test_malformed_json_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/v1/servers", content=b'{"metadata": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert response.json()["errors"][0]["reason"].startswith("invalid JSON")


async def test_posts_without_a_body_need_no_content_type(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/clients", json={"metadata": {"name": "ana"}, "spec": {}})

    response = await api.post("/api/v1/clients/ana/keys")

    assert response.status_code == 201
