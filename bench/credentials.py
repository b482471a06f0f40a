"""`python -m bench.credentials [--calls N]`: what `MCPServer.spec.auth` adds per call.

The only code a call runs differently with `static` auth is the upstream pool's lookup of the
resolved secret (a dict lookup and a clock read once the secret is in memory); with
`oauth2-client-credentials` and a cached token, the token cache's lookup and freshness check.
This measures `UpstreamPool.session()` + a request on an in-process session that answers at
once, for a server without auth, one with `static` auth over a real secret store (SQLite in a
temp dir, the database backend) and one with `oauth2-client-credentials` against a real token
endpoint on loopback (one token request, in the warm-up), and `token-exchange` for one person
with a cached exchanged token (`UpstreamPool.connected_session()`: the lookup by the presented
token's hash, then the person's session), on uvloop in this process: CPU µs per call
(`time.process_time`) and the differences. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

from giru.credentials import DatabaseBackend, Keyring, SecretStore, UpstreamCredentials
from giru.credentials.connections import Caller
from giru.credentials.grants import UpstreamTokens
from giru.credentials.oauth import OAuthHttp, TokenCache
from giru.egress import UPSTREAMS, egress_session
from giru.egress.lean import LeanClient
from giru.identity import PresentedToken, token_hash
from giru.proxy.upstreams import UpstreamPool
from giru.store import Store
from giru.telemetry.metrics import Metrics
from giru.upstream.auth import OAuthClientAuth, SecretEntry
from giru.upstream.base import ClientIdentity, MessageSink, ServerSpec, UpstreamAuth

URL = "http://127.0.0.1:9/mcp"
SPECS = {
    "none": ServerSpec("none", "streamable-http", url=URL),
    "static": ServerSpec(
        "static",
        "streamable-http",
        url=URL,
        auth=UpstreamAuth("github-token", header="Authorization", prefix="Bearer "),
    ),
}


def _oauth_spec(token_endpoint: str, name: str = "oauth") -> ServerSpec:
    auth = OAuthClientAuth(
        grant="token_exchange" if name == "exchange" else "client_credentials",
        client_id="giru",
        auth_method="client_secret_basic",
        credential=SecretEntry("oauth-client"),
        token_endpoint=token_endpoint,
    )
    return ServerSpec(name, "streamable-http", url=URL, auth=auth)


_SUBJECT = "eyJ" + "p" * 600  # a person's access token to Giru, as presented
PERSON = Caller(
    "sub-alice",
    "alice@example.com",
    PresentedToken(_SUBJECT, token_hash(_SUBJECT), time.time() + 86_400),
)


async def _token_endpoint() -> tuple[web.AppRunner, str]:
    """A token endpoint on loopback that issues hour-long tokens."""

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "at-" + "x" * 40, "expires_in": 3600})

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/token"


def _tokens(http: aiohttp.ClientSession) -> Callable[[UpstreamCredentials], UpstreamTokens]:
    def build(credentials: UpstreamCredentials) -> UpstreamTokens:
        return UpstreamTokens(OAuthHttp(http), TokenCache(), credentials.entry)

    return build


ANSWER = {"jsonrpc": "2.0", "id": 1, "result": {"content": [], "isError": False}}


class _Session:
    """An upstream session that answers every request at once (no I/O)."""

    protocol_version = "2026-07-28"
    initialize_result: dict[str, Any] = {}  # noqa: RUF012 -- read only

    def __init__(self, server: str) -> None:
        self.server = server

    async def request(self, method: str, params: Any, **_: Any) -> dict[str, Any]:
        return ANSWER

    async def notify(self, method: str, params: Any) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def _connector(
    spec: ServerSpec,
    identity: ClientIdentity,
    *,
    on_unsolicited: MessageSink,
    http: LeanClient,
) -> _Session:
    return _Session(spec.name)


async def _list_changed(server: str, method: str) -> None:
    return None


async def _measure(calls: int, directory: Path) -> dict[str, float]:
    store = await Store.open(f"sqlite+aiosqlite:///{directory / 'giru.db'}", pepper=b"p" * 32)
    secrets = SecretStore(
        store,
        {"database": DatabaseBackend(Keyring.from_text([bytes(range(32)).hex()]))},
        default="database",
        max_bytes=65536,
    )
    await secrets.put("github-token", {"value": "ghp_" + "x" * 36}, actor="bench")
    await secrets.put("oauth-client", {"value": "client-secret"}, actor="bench")
    runner, token_endpoint = await _token_endpoint()
    specs = {
        **SPECS,
        "oauth": _oauth_spec(token_endpoint),
        "exchange": _oauth_spec(token_endpoint, "exchange"),
    }
    async with LeanClient(UPSTREAMS) as http, egress_session(UPSTREAMS) as oauth_http:
        pool = UpstreamPool(
            specs,
            http=http,
            metrics=Metrics(),
            on_list_changed=_list_changed,
            connector=_connector,  # a session without I/O
            credentials=UpstreamCredentials(secrets, ttl_s=3600, tokens=_tokens(oauth_http)),
        )
        results: dict[str, float] = {}
        for _round in range(2):  # the first round warms up (and fetches the token)
            for server in specs:
                started = time.process_time()
                for _ in range(calls):
                    if server == "exchange":
                        session = await pool.connected_session(server, PERSON, "modern")
                    else:
                        session = await pool.session(server, "modern")
                    await session.request("tools/call", {"name": "echo"})
                results[server] = (time.process_time() - started) / calls * 1e6
        await pool.aclose()
    await runner.cleanup()
    await store.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="giru-bench-credentials-") as directory:
        results = uvloop.run(_measure(args.calls, Path(directory)))
    for server, cpu in results.items():
        print(f"auth {server:<8} {cpu:6.2f} µs CPU/call (pool lookup + request)", flush=True)
    print(f"static - none: {results['static'] - results['none']:+.2f} µs CPU/call", flush=True)
    print(f"oauth - none:  {results['oauth'] - results['none']:+.2f} µs CPU/call", flush=True)
    exchange = results["exchange"] - results["none"]
    print(f"exchange - none: {exchange:+.2f} µs CPU/call", flush=True)


if __name__ == "__main__":
    main()
