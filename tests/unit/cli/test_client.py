"""The REST client: problem+json becomes an `ApiError`, pagination is followed, tokens sent."""

from __future__ import annotations

import json

import httpx
import pytest

from giru.cli.client import ApiClient, ApiError
from giru.cli.exits import exit_code
from giru.errors import ConfigError, GiruError, NotFoundError, UnauthenticatedError

PROBLEM = "application/problem+json"


def client_for(handler: httpx.MockTransport) -> ApiClient:
    return ApiClient("http://giru.test/", "tok-123", transport=handler)


def problem(status: int, code: str, **extra: object) -> httpx.Response:
    body = {"type": f"https://giru.dev/problems/{code}", "title": code, "status": status}
    return httpx.Response(
        status, json={**body, "code": code, **extra}, headers={"content-type": PROBLEM}
    )


def test_requests_carry_the_bearer_token_under_api_v1() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": "ops", "role": "admin"})

    with client_for(httpx.MockTransport(handle)) as client:
        assert client.get("/whoami") == {"name": "ops", "role": "admin"}
    assert str(seen[0].url) == "http://giru.test/api/v1/whoami"
    assert seen[0].headers["authorization"] == "Bearer tok-123"


def test_problem_json_becomes_an_api_error_with_code_status_and_field_errors() -> None:
    errors = [{"field": "spec.url", "reason": "required"}]

    def handle(request: httpx.Request) -> httpx.Response:
        return problem(422, "validation_failed", detail="1 problem", errors=errors)

    with client_for(httpx.MockTransport(handle)) as client, pytest.raises(ApiError) as caught:
        client.post("/servers", {"metadata": {"name": "x"}, "spec": {}})
    error = caught.value
    assert (error.code, error.status, error.message, error.errors) == (
        "validation_failed",
        422,
        "1 problem",
        errors,
    )
    assert exit_code(error) == 2


def test_a_plain_http_error_keeps_its_status() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(502, text="bad gateway"))
    with client_for(transport) as client, pytest.raises(ApiError) as caught:
        client.get("/servers")
    assert (caught.value.code, caught.value.status) == ("http_error", 502)
    assert exit_code(caught.value) == 1


def test_an_unreachable_api_is_an_error_without_the_token() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with client_for(httpx.MockTransport(handle)) as client, pytest.raises(ApiError) as caught:
        client.get("/servers")
    assert caught.value.code == "unreachable"
    assert "http://giru.test" in caught.value.message
    assert "tok-123" not in caught.value.message


def test_list_all_follows_next_cursor() -> None:
    pages = {None: (["a", "b"], "c1"), "c1": (["c"], None)}
    queries: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        queries.append(query)
        items, cursor = pages[query.get("cursor")]
        return httpx.Response(
            200, json={"items": [{"name": n} for n in items], "nextCursor": cursor}
        )

    with client_for(httpx.MockTransport(handle)) as client:
        names = [item["name"] for item in client.list_all("/servers", {"status": "active"})]
    assert names == ["a", "b", "c"]
    assert queries == [
        {"status": "active", "limit": "500"},
        {"status": "active", "limit": "500", "cursor": "c1"},
    ]


def test_delete_with_no_content_returns_none() -> None:
    with client_for(httpx.MockTransport(lambda r: httpx.Response(204))) as client:
        assert client.request("DELETE", "/servers/a") is None


def test_a_non_json_success_is_an_error() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))
    with client_for(transport) as client, pytest.raises(ApiError, match="not JSON"):
        client.get("/servers")


@pytest.mark.parametrize(
    ("code", "status", "exit"),
    [
        ("validation_failed", 422, 2),
        ("not_found", 404, 3),
        ("unauthenticated", 401, 4),
        ("permission_denied", 403, 4),
        ("already_exists", 409, 5),
        ("in_use", 409, 5),
        ("invalid_transition", 409, 5),
        ("approval_required", 409, 5),
        ("managed_by_file", 409, 5),
        ("precondition_failed", 412, 5),
        ("body_too_large", 413, 2),
        ("upstream_unavailable", 503, 1),
        ("something_new", 409, 5),
        ("something_new", 500, 1),
    ],
)
def test_exit_codes_follow_the_contract(code: str, status: int, exit: int) -> None:
    assert exit_code(ApiError("x", code=code, status=status)) == exit


@pytest.mark.parametrize(
    ("error", "exit"),
    [
        (ConfigError("bad"), 2),
        (NotFoundError("gone"), 3),
        (UnauthenticatedError("who"), 4),
        (GiruError("boom"), 1),
    ],
)
def test_local_errors_map_to_exit_codes_too(error: GiruError, exit: int) -> None:
    assert exit_code(error) == exit


def test_problem_body_is_decoded_even_when_detail_is_missing() -> None:
    body = json.dumps({"title": "Conflict", "status": 409, "code": "in_use"})
    response = httpx.Response(409, content=body, headers={"content-type": PROBLEM})
    transport = httpx.MockTransport(lambda r: response)
    with client_for(transport) as client, pytest.raises(ApiError, match="Conflict"):
        client.delete("/servers/a")
