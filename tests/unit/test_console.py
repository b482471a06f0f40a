"""The web console's file serving: SPA fallback, caching, compression and security headers."""

from __future__ import annotations

import base64
import gzip
import hashlib
from pathlib import Path

import httpx
import pytest

from giru.console import Console, content_security_policy, is_console_path

BOOT = b"\n{ __sveltekit_x = {base: '/ui'}; import('/ui/_app/immutable/entry/start.js'); }\n"
INDEX = b"<!doctype html><html><head></head><body><div><script>" + BOOT + b"</script></div></body>"


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "_app" / "immutable" / "entry").mkdir(parents=True)
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "index.html.gz").write_bytes(gzip.compress(INDEX))
    (tmp_path / "_app" / "immutable" / "entry" / "start.js").write_bytes(b"export {};")
    (tmp_path / "_app" / "version.json").write_bytes(b'{"version":"1"}')
    (tmp_path / ".build-stamp").write_bytes(b"abc")
    return tmp_path


def _client(root: Path) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=Console(root)), base_url="http://t")


async def test_a_path_that_names_no_file_gets_the_app_shell_revalidated(built: Path) -> None:
    async with _client(built) as client:
        for path in ("/ui", "/ui/", "/ui/servers/kit", "/ui/signin?next=/ui/audit"):
            answer = await client.get(path, headers={"accept-encoding": "identity"})
            assert answer.status_code == 200, path
            assert answer.content == INDEX
            assert answer.headers["content-type"] == "text/html; charset=utf-8"
            assert answer.headers["cache-control"] == "no-cache"


async def test_hashed_assets_are_cached_for_a_year(built: Path) -> None:
    async with _client(built) as client:
        answer = await client.get("/ui/_app/immutable/entry/start.js")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-type"].startswith("text/javascript")


async def test_a_missing_asset_is_404_not_the_app_shell(built: Path) -> None:
    async with _client(built) as client:
        for path in ("/ui/_app/immutable/entry/gone.js", "/ui/logo.png", "/ui/.build-stamp"):
            assert (await client.get(path)).status_code == 404, path


async def test_traversal_out_of_the_build_directory_finds_nothing(built: Path) -> None:
    (built.parent / "secret.txt").write_text("no")
    async with _client(built) as client:
        for path in ("/ui/../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/_app/../../secret.txt"):
            answer = await client.get(path)
            assert answer.content != b"no"
            assert answer.status_code in (200, 404)


async def test_a_precompressed_file_is_sent_to_a_client_that_accepts_it(built: Path) -> None:
    async with _client(built) as client:
        zipped = await client.get("/ui/", headers={"accept-encoding": "gzip"})
        refused = await client.get("/ui/", headers={"accept-encoding": "gzip;q=0"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == INDEX  # httpx decodes it
    assert zipped.headers["vary"] == "accept-encoding"
    assert "content-encoding" not in refused.headers


async def test_every_answer_forbids_framing_sniffing_and_foreign_scripts(built: Path) -> None:
    async with _client(built) as client:
        answer = await client.get("/ui/clients")
    policy = answer.headers["content-security-policy"]
    digest = base64.b64encode(hashlib.sha256(BOOT).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


async def test_only_reads_are_allowed(built: Path) -> None:
    async with _client(built) as client:
        answer = await client.post("/ui/", content=b"x")
        head = await client.head("/ui/")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200
    assert head.content == b""


async def test_an_unbuilt_ui_says_how_to_build_it(tmp_path: Path) -> None:
    async with _client(tmp_path / "missing") as client:
        answer = await client.get("/ui")
    assert answer.status_code == 404
    assert b"make setup" in answer.content


def test_console_paths_are_ui_and_below_only() -> None:
    assert is_console_path("/ui")
    assert is_console_path("/ui/servers")
    assert not is_console_path("/uix")
    assert not is_console_path("/api/ui")


def test_a_page_without_inline_scripts_allows_only_same_origin_scripts() -> None:
    assert "script-src 'self';" in content_security_policy(b"<script src='/ui/a.js'></script>")
