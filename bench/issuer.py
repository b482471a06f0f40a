"""An IdP for the benchmarks: its discovery document and an ES256 JWKS served from a thread of
the bench process, and the access tokens it signs (direct mode: Giru verifies them)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["Issuer"]

_KID: Final = "bench-es256"


class Issuer:
    """An IdP's discovery document and JWKS, served from a thread; it signs access tokens."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        issuer = self
        public = json.loads(jwt.get_algorithm_by_name("ES256").to_jwk(self.key.public_key()))
        self.documents: dict[str, Any] = {
            "/.well-known/openid-configuration": {"issuer": self.url, "jwks_uri": self.url + "/j"},
            "/j": {"keys": [{**public, "kid": _KID, "use": "sig", "alg": "ES256"}]},
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = issuer.documents.get(self.path)
                body = json.dumps(document).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server.RequestHandlerClass = Handler
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def token(self, audience: str, subject: str = "sub-bench") -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": subject,
            "aud": audience,
            "email": "bench@example.com",
            "groups": ["bench"],
            "client_id": "bench-agent",
            "scope": "mcp",
            "amr": ["pwd"],
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": _KID})

    @contextmanager
    def serving(self) -> Iterator[Issuer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
