"""Two `giru run` workers sharing PostgreSQL and Redis, one `oauth2-client-credentials` server:
fifty concurrent calls spread over both workers are served with exactly one token request to
the authorization server (the token is shared, sealed, in Redis; the refresh lock is Redis's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.credentials.calls import (
    HeadersUpstream,
    Mcp,
    apply,
    headers_upstream,
    http_auth_server,
    put_secret,
)
from tests.integration.gateway import CLIENT, KEY, RunningGiru, run_giru, wait_until

pytestmark = pytest.mark.integration

SHARED_KEK = bytes(range(32)).hex()


@pytest.fixture
def setup(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[HeadersUpstream, RunningGiru, RunningGiru]]:
    shared = {
        "GIRU_DATABASE_URL": postgres_url,
        "GIRU_REDIS_URL": redis_url,
        "GIRU_KEY_PEPPER": "oauth-workers-pepper-0123456789ab",
        "GIRU_SECRETS__KEY": SHARED_KEK,
        "GIRU_POLICY__ENABLED": "false",
    }
    with ExitStack() as stack:
        upstream = stack.enter_context(headers_upstream(tmp_path))
        workers = []
        for name in ("w1", "w2"):
            workdir = tmp_path / name
            workdir.mkdir()
            env = {**shared, "GIRU_WORKER_NAME": name}
            manifests = CLIENT if name == "w1" else None
            workers.append(stack.enter_context(run_giru(manifests, workdir, extra_env=env)))
        yield upstream, workers[0], workers[1]


def test_fifty_calls_on_two_workers_make_one_token_request(
    setup: tuple[HeadersUpstream, RunningGiru, RunningGiru],
) -> None:
    upstream, a, b = setup
    put_secret(a, "cc-client", "cc-secret")
    auth = (
        f"{{type: oauth2-client-credentials, tokenEndpoint: {upstream.token_endpoint}, "
        "clientId: giru, clientSecret: {secretRef: {name: cc-client}}}"
    )
    apply(a, http_auth_server("crm", upstream.url, auth))
    sessions = [Mcp(a).open(), Mcp(b).open()]
    for mcp in sessions:
        wait_until(_lists(mcp, "crm__whoami"), "crm's tools are listed on both workers")
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda i: sessions[i % 2].text("crm__whoami"), range(50)))
    assert set(answers) == {"Bearer cc-1"}
    requests = upstream.requests()
    assert [path for path, _ in requests].count("/token") == 1
    assert all(KEY not in value for _, h in requests for value in h.values())


def _lists(mcp: Mcp, tool: str) -> Callable[[], bool]:
    return lambda: tool in mcp.tools()
