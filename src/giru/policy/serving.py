"""`GET /api/v1/policy/bundle.tar.gz`: the bundle OPA pulls (OPA's bundle service API).

OPA polls with `If-None-Match`; an unchanged bundle is a 304. The caller must present the
bundle token as a bearer token: the managed child's per-process token, or
`GIRU_POLICY__BUNDLE_TOKEN` for an external OPA. Without a token configured nothing is served.
"""

from __future__ import annotations

import hmac
from typing import Final

from giru.policy.engine import PolicyEngine
from giru.proxy.http import Scope, Send, send_bytes, send_json

__all__ = ["BUNDLE_PATH", "serve_bundle"]

BUNDLE_PATH: Final = "/api/v1/policy/bundle.tar.gz"
_WWW_AUTH: Final = (b"www-authenticate", b'Bearer realm="giru-policy-bundle"')


async def serve_bundle(
    engine: PolicyEngine | None, token: str | None, scope: Scope, send: Send
) -> None:
    headers = dict(scope.get("headers") or ())
    if scope.get("method") not in ("GET", "HEAD"):
        await send_json(send, 405, {"error": "method not allowed"}, headers=[(b"allow", b"GET")])
        return
    presented = headers.get(b"authorization", b"")
    if token is None or not hmac.compare_digest(presented, b"Bearer " + token.encode()):
        await send_json(
            send, 401, {"error": "a valid bundle token is required"}, headers=[_WWW_AUTH]
        )
        return
    if engine is None or engine.bundle is None:
        await send_json(send, 503, {"error": "no policy bundle has been built"})
        return
    bundle = engine.bundle
    etag = f'"{bundle.revision}"'.encode()
    cache = [(b"etag", etag), (b"cache-control", b"no-cache")]
    if headers.get(b"if-none-match") == etag:
        await send_bytes(send, 304, b"", content_type=None, headers=cache)
        return
    await send_bytes(send, 200, bundle.archive, content_type=b"application/gzip", headers=cache)
