"""The REST client: problem+json becomes an `ApiError`, pagination is followed, tokens sent.

Against a real HTTP server on loopback (`http.server` in a thread) that answers each request
with what the test's handler returns."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from giru.cli.client import ApiClient, ApiError, Timeout
from giru.cli.exits import exit_code
from giru.errors import ConfigError, GiruError, NotFoundError, UnauthenticatedError

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    close: bool = False


def ok(value: object, status: int = 200) -> Answer:
    return Answer(status, json.dumps(value).encode())


def problem(status: int, code: str, **extra: object) -> Answer:
    body = {"type": f"https://giru.dev/problems/{code}", "title": code, "status": status}
    return Answer(status, json.dumps({**body, "code": code, **extra}).encode(), PROBLEM)


Handler = Callable[[Seen], Answer]


@dataclass
class Api:
    """The server's side: what it saw, and the handler answering the next requests."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    handle: Handler = lambda seen: Answer(204)


def _request_handler(api: Api) -> type[BaseHTTPRequestHandler]:
    class Handle(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the gateway's API

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            seen = Seen(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query)),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            api.seen.append(seen)
            answer = api.handle(seen)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            if answer.close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(answer.body)

        # http.server's names for the methods it serves
        do_GET = _any  # noqa: N815
        do_POST = _any  # noqa: N815
        do_PUT = _any  # noqa: N815
        do_DELETE = _any  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handle


@pytest.fixture
def api() -> Iterator[Api]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    api = Api(f"http://127.0.0.1:{server.server_address[1]}/")
    server.RequestHandlerClass = _request_handler(api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api
    server.shutdown()
    server.server_close()
    thread.join()


def client_for(api: Api, handle: Handler) -> ApiClient:
    api.handle = handle
    return ApiClient(api.url, "tok-123")


def test_requests_carry_the_bearer_token_under_api_v1(api: Api) -> None:
    with client_for(api, lambda seen: ok({"name": "ops", "role": "admin"})) as client:
        assert client.get("/whoami") == {"name": "ops", "role": "admin"}
    assert (api.seen[0].method, api.seen[0].path) == ("GET", "/api/v1/whoami")
    assert api.seen[0].headers["authorization"] == "Bearer tok-123"
    assert api.seen[0].headers["accept"] == "application/json"


def test_a_path_in_the_url_prefixes_the_api(api: Api) -> None:
    api.handle = lambda seen: ok({})
    with ApiClient(f"{api.url}giru/", "tok-123") as client:
        client.get("/servers")
    assert api.seen[0].path == "/giru/api/v1/servers"


def test_a_body_is_sent_as_json(api: Api) -> None:
    body = {"metadata": {"name": "café"}, "spec": {"n": 1}}
    with client_for(api, lambda seen: ok(json.loads(seen.body), 201)) as client:
        assert client.put("/servers/x", body) == body
    assert api.seen[0].headers["content-type"] == "application/json"
    assert json.loads(api.seen[0].body) == body


def test_problem_json_becomes_an_api_error_with_code_status_and_field_errors(api: Api) -> None:
    errors = [{"field": "spec.url", "reason": "required"}]

    def handle(seen: Seen) -> Answer:
        return problem(422, "validation_failed", detail="1 problem", errors=errors)

    with client_for(api, handle) as client, pytest.raises(ApiError) as caught:
        client.post("/servers", {"metadata": {"name": "x"}, "spec": {}})
    error = caught.value
    assert (error.code, error.status, error.message, error.errors) == (
        "validation_failed",
        422,
        "1 problem",
        errors,
    )
    assert exit_code(error) == 2


def test_a_plain_http_error_keeps_its_status(api: Api) -> None:
    answer = Answer(502, b"bad gateway", "text/plain")
    with client_for(api, lambda seen: answer) as client, pytest.raises(ApiError) as caught:
        client.get("/servers")
    assert (caught.value.code, caught.value.status) == ("http_error", 502)
    assert caught.value.message == "HTTP 502 Bad Gateway"
    assert exit_code(caught.value) == 1


def test_an_unreachable_api_is_an_error_without_the_token() -> None:
    with socket.socket() as unused:  # a port nothing listens on: bound, never listening
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        with ApiClient(url, "tok-123") as client, pytest.raises(ApiError) as caught:
            client.get("/servers")
    assert caught.value.code == "unreachable"
    assert url in caught.value.message
    assert "tok-123" not in caught.value.message
    assert exit_code(caught.value) == 1


def test_an_api_that_does_not_answer_in_time_is_a_timeout() -> None:
    with socket.socket() as silent:  # accepts (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        quick = Timeout(connect=5.0, read=0.05)
        with ApiClient(url, "tok-123", timeout=quick) as client, pytest.raises(ApiError) as caught:
            client.get("/servers")
    assert (caught.value.code, caught.value.status) == ("timeout", 0)
    assert "tok-123" not in caught.value.message


def test_a_url_that_is_not_http_is_refused_before_connecting() -> None:
    with pytest.raises(ApiError, match="not an http"):
        ApiClient("ftp://giru.test", "tok-123")


def test_list_all_follows_next_cursor(api: Api) -> None:
    pages = {None: (["a", "b"], "c1"), "c1": (["c"], None)}

    def handle(seen: Seen) -> Answer:
        items, cursor = pages[seen.query.get("cursor")]
        return ok({"items": [{"name": n} for n in items], "nextCursor": cursor})

    with client_for(api, handle) as client:
        names = [item["name"] for item in client.list_all("/servers", {"status": "active"})]
    assert names == ["a", "b", "c"]
    assert [seen.query for seen in api.seen] == [
        {"status": "active", "limit": "500"},
        {"status": "active", "limit": "500", "cursor": "c1"},
    ]


def test_a_connection_the_server_closed_is_replaced(api: Api) -> None:
    with client_for(api, lambda seen: Answer(200, b"{}", close=True)) as client:
        assert [client.get("/servers"), client.get("/servers")] == [{}, {}]
    assert len(api.seen) == 2


def test_delete_with_no_content_returns_none(api: Api) -> None:
    with client_for(api, lambda seen: Answer(204)) as client:
        assert client.request("DELETE", "/servers/a") is None
    assert api.seen[0].method == "DELETE"


def test_a_non_json_success_is_an_error(api: Api) -> None:
    answer = Answer(200, b"<html>", "text/html")
    with client_for(api, lambda seen: answer) as client, pytest.raises(ApiError, match="not JSON"):
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


def test_problem_body_is_decoded_even_when_detail_is_missing(api: Api) -> None:
    body = json.dumps({"title": "Conflict", "status": 409, "code": "in_use"}).encode()
    answer = Answer(409, body, PROBLEM)
    with client_for(api, lambda seen: answer) as client, pytest.raises(ApiError, match="Conflict"):
        client.delete("/servers/a")
