"""The web console: serves the built web UI (`web/`, built into `giru/ui/`) at `/ui`.

Every file is read into memory once, on the first request, so a request never touches the
file system (no path traversal to guard against). Paths that name no file get `index.html`
(the single-page app routes them itself); a missing asset under `_app/` or with a file
extension is a 404. Hashed assets (`_app/immutable/`) are cached for a year, everything else
is revalidated. Every answer carries a strict Content-Security-Policy: scripts only from
`/ui` plus the SHA-256 hashes of `index.html`'s inline boot script, no framing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from giru.proxy.http import Receive, Scope, Send

__all__ = ["PREFIX", "Console", "is_console_path", "shipped_ui"]

PREFIX = "/ui"
_INDEX = "index.html"
_IMMUTABLE = "_app/immutable/"
_LONG_CACHE = b"public, max-age=31536000, immutable"
_REVALIDATE = b"no-cache"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
}
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))  # preferred first; adapter-static precompresses


def shipped_ui() -> Path:
    """Where `make setup` puts the built UI (inside the package, so wheels carry it)."""
    return Path(__file__).resolve().parent / "ui"


def is_console_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def content_security_policy(index: bytes) -> str:
    """The policy of every `/ui` answer: same origin only, `index.html`'s inline scripts by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(index)
    )
    script = f"script-src 'self' {hashes}".rstrip()
    return (
        f"default-src 'none'; {script}; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


@dataclass(frozen=True)
class _File:
    body: bytes
    content_type: str
    encoded: dict[str, bytes]  # content-encoding -> body


class Console:
    """The `/ui` ASGI app over a directory of built files (`root`); built lazily."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, _File] | None = None
        self._headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        files = self._load()
        if _INDEX not in files:
            await _plain(
                send, 404, b"The web UI is not built: run `make setup` (it needs Node 22).\n"
            )
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, b"Method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        name = scope["path"][len(PREFIX) :].lstrip("/")
        found = files.get(name) if name else None
        if found is None:
            last = name.rsplit("/", 1)[-1]
            if name.startswith("_app/") or "." in last:
                await _plain(send, 404, b"Not found\n")
                return
            name, found = _INDEX, files[_INDEX]
        cache = _LONG_CACHE if name.startswith(_IMMUTABLE) else _REVALIDATE
        body, headers = found.body, [(b"content-type", found.content_type.encode())]
        accepted = _accepted_encodings(scope)
        for encoding, _suffix in _ENCODINGS:
            if encoding in found.encoded and encoding in accepted:
                body = found.encoded[encoding]
                headers.append((b"content-encoding", encoding.encode()))
                break
        if found.encoded:
            headers.append((b"vary", b"accept-encoding"))
        headers += [
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", cache),
            *self._headers,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        head = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})

    def _load(self) -> dict[str, _File]:
        if self._files is None:
            self._files = _read_tree(self.root)
            index = self._files.get(_INDEX)
            self._headers = _security_headers(index.body if index is not None else b"")
        return self._files


def _security_headers(index: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(index).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


def _read_tree(root: Path) -> dict[str, _File]:
    """Every file under `root` by its `/`-separated relative path, with its precompressed forms."""
    if not root.is_dir():
        return {}
    found: dict[str, _File] = {}
    paths = {
        name: path
        for path in root.rglob("*")
        if path.is_file()
        and not (name := path.relative_to(root).as_posix()).startswith(".")
        and "/." not in name
    }
    for name, path in sorted(paths.items()):
        if name.endswith((".br", ".gz")) and name[:-3] in paths:
            continue
        encoded = {
            encoding: paths[name + suffix].read_bytes()
            for encoding, suffix in _ENCODINGS
            if name + suffix in paths
        }
        content_type = _TYPES.get(path.suffix, "application/octet-stream")
        found[name] = _File(path.read_bytes(), content_type, encoded)
    return found


def _accepted_encodings(scope: Scope) -> set[str]:
    """The content codings the request accepts (`q=0` refuses one)."""
    accepted: set[str] = set()
    for key, value in scope.get("headers", ()):
        if key == b"accept-encoding":
            for part in value.decode("latin-1").split(","):
                coding, _, params = part.strip().partition(";")
                if params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
                    accepted.add(coding.strip().lower())
    return accepted


async def _plain(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
