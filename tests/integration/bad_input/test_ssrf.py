"""SSRF through upstream URLs, against a real `giru run` and a real local HTTP origin
(docs/security/ssrf.md).

Validation judges the host the HTTP client will connect to (Unicode digits and full stops are
normalized first); connect time judges the resolved address; upstream redirects are never
followed. The origin listens on 127.0.0.1, which `0.0.0.0` also reaches on Linux: a request that
slipped through would show up in its hit counts.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.gateway import ADMIN_TOKEN, RunningGiru, run_giru, wait_until

pytestmark = pytest.mark.integration

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


class Origin:
    """An HTTP server on 127.0.0.1 that counts hits per path; `/redirected` is where a followed
    redirect lands, every other path answers 307 to `http://0.0.0.0:PORT/redirected`."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                with origin._lock:
                    origin.hits[path] += 1
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                if path == "/redirected":
                    self.send_response(404)
                else:
                    self.send_response(307)
                    self.send_header("location", f"http://0.0.0.0:{origin.port}/redirected")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def count(self, path: str) -> int:
        with self._lock:
            return self.hits[path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    server = Origin()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    with run_giru(None, tmp_path_factory.mktemp("ssrf")) as running:
        yield running


def _server(name: str, url: str, transport: str = "streamable-http") -> dict[str, Any]:
    spec = {"transport": transport, "url": url, "timeouts": {"connect": "5s"}}
    return {"metadata": {"name": name}, "spec": spec}


def _create(giru: RunningGiru, document: dict[str, Any]) -> httpx.Response:
    return httpx.post(giru.url("/api/v1/servers"), json=document, headers=ADMIN, timeout=10)


def _sync(giru: RunningGiru, name: str) -> httpx.Response:
    """Sync once the gateway has loaded the new server (a 404 until the reload lands)."""
    answers: list[httpx.Response] = []

    def loaded() -> bool:
        answers.append(
            httpx.post(giru.url(f"/api/v1/servers/{name}/sync"), headers=ADMIN, timeout=30)
        )
        return answers[-1].status_code != 404

    wait_until(loaded, f"server {name} loaded by the gateway")
    return answers[-1]


@pytest.mark.parametrize(
    ("name", "host", "normalized"),
    [
        ("fullwidth-zero", "\uff10.\uff10.\uff10.\uff10", "0.0.0.0"),
        (
            "fullwidth-metadata",
            "\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14",
            "169.254.169.254",
        ),
        (
            "circled-metadata",
            "\u2460\u2465\u2468.\u2461\u2464\u2463.\u2460\u2465\u2468.\u2461\u2464\u2463",
            "169.254.169.254",
        ),
        ("ideographic-dots", "0\u30020\u30020\u30020", "0.0.0.0"),
        ("fullwidth-dots", "169\uff0e254\uff0e169\uff0e254", "169.254.169.254"),
        ("math-digits", "\U0001d7ce.\U0001d7ce.\U0001d7ce.\U0001d7ce", "0.0.0.0"),
        (
            "fullwidth-hex",
            "\uff10\uff58\uff41\uff19\uff46\uff45\uff41\uff19\uff46\uff45",
            "0xa9fea9fe",
        ),
    ],
)
def test_a_unicode_host_that_normalizes_to_a_number_is_422_naming_spec_url(
    giru: RunningGiru, origin: Origin, name: str, host: str, normalized: str
) -> None:
    response = _create(giru, _server(name, f"http://{host}:{origin.port}/latest/meta-data"))
    assert response.status_code == 422, response.text
    [problem] = response.json()["errors"]
    assert problem["field"] == "spec.url"
    assert f"normalize to the numeric host {normalized}" in problem["reason"]
    stored = httpx.get(giru.url(f"/api/v1/servers/{name}"), headers=ADMIN, timeout=10)
    assert stored.status_code == 404


@pytest.mark.parametrize(("transport", "path"), [("streamable-http", "/mcp"), ("sse", "/sse")])
def test_a_redirect_from_an_upstream_is_an_error_and_is_never_followed(
    giru: RunningGiru, origin: Origin, transport: str, path: str
) -> None:
    name = f"redirector-{transport}"
    created = _create(giru, _server(name, f"http://127.0.0.1:{origin.port}{path}", transport))
    assert created.status_code == 201, created.text
    synced = _sync(giru, name)
    assert origin.count(path) >= 1
    assert origin.count("/redirected") == 0
    assert synced.status_code in (502, 503), synced.text
    assert "Giru does not follow upstream redirects" in synced.json()["detail"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_an_address_the_egress_settings_refuse_is_refused_at_connect_time(
    origin: Origin, tmp_path: Path, host: str
) -> None:
    strict = {"GIRU_EGRESS__ALLOW_LOOPBACK": "false"}
    with run_giru(None, tmp_path, extra_env=strict) as giru:
        created = _create(giru, _server("loop", f"http://{host}:{origin.port}/connect-time"))
        assert created.status_code == 201, created.text  # valid; refused when connecting
        synced = _sync(giru, "loop")
    assert origin.count("/connect-time") == 0
    assert synced.status_code in (502, 503), synced.text
    assert "refused by the egress guard" in synced.json()["detail"]
    assert "loopback" in synced.json()["detail"]
