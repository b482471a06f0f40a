"""`MCPServer.spec.auth` through a real `giru run` (database backend, embedded key file): the
secret reaches the upstream as a header or a child's environment variable, the client's own key
never does, a new version of the secret is used without a restart, and a server that needs a
missing secret answers `credentials_unavailable` while the others go on."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.credentials.calls import (
    ADMIN_HEADERS,
    Mcp,
    apply,
    headers_upstream,
    http_auth_server,
    put_secret,
    stdio_auth_server,
)
from tests.integration.gateway import CLIENT, KEY, run_giru, wait_until
from tests.services import VaultServer

pytestmark = pytest.mark.integration

TOKEN = "ghp_upstream-0123456789abcdef0123"
NEXT = "ghp_rotated-0123456789abcdef01234"
STATIC = '{type: static, header: Authorization, prefix: "Bearer ", secretRef: {name: github-token}}'
STATIC_ENV = "{type: static, env: GH_TOKEN, secretRef: {name: github-token, key: value}}"
NO_POLICY = {"GIRU_POLICY__ENABLED": "false"}


def test_static_auth_sends_the_secret_never_the_clients_key_and_follows_rotation(
    tmp_path: Path,
) -> None:
    with (
        headers_upstream(tmp_path) as upstream,
        run_giru(
            CLIENT + "---" + http_auth_server("plain", upstream.url, "{type: none}"),
            tmp_path,
            extra_env=NO_POLICY,
        ) as giru,
    ):
        put_secret(giru, "github-token", TOKEN)
        apply(
            giru,
            http_auth_server("gh", upstream.url, STATIC)
            + "---"
            + stdio_auth_server("envy", STATIC_ENV),
        )
        mcp = Mcp(giru).open()
        wanted = {"gh__whoami", "plain__whoami", "envy__variable"}
        wait_until(lambda: wanted <= mcp.tools(), "every server's tools are listed")
        assert mcp.text("gh__whoami") == f"Bearer {TOKEN}"
        assert mcp.text("plain__whoami") == "-"
        assert mcp.text("envy__variable", {"name": "GH_TOKEN"}) == TOKEN
        seen = upstream.seen()
        assert seen, "the upstream recorded its requests"
        assert all(KEY not in value for headers in seen for value in headers.values())
        with_secret = [h for h in seen if h.get("authorization") == f"Bearer {TOKEN}"]
        without = [h for h in seen if "authorization" not in h]
        assert len(with_secret) + len(without) == len(seen)
        assert with_secret
        assert without

        put_secret(giru, "github-token", NEXT)
        wait_until(lambda: mcp.text("gh__whoami") == f"Bearer {NEXT}", "the new version is sent")
        wait_until(
            lambda: mcp.text("envy__variable", {"name": "GH_TOKEN"}) == NEXT,
            "the child is restarted with the new version",
        )
        assert all(KEY not in value for headers in upstream.seen() for value in headers.values())


def test_a_missing_secret_fails_only_the_calls_that_need_it(tmp_path: Path) -> None:
    with (
        headers_upstream(tmp_path) as upstream,
        run_giru(
            CLIENT + "---" + http_auth_server("plain", upstream.url, "{type: none}"),
            tmp_path,
            extra_env=NO_POLICY,
        ) as giru,
    ):
        put_secret(giru, "github-token", TOKEN)
        apply(giru, http_auth_server("gh", upstream.url, STATIC))
        mcp = Mcp(giru).open()
        wait_until(lambda: "gh__whoami" in mcp.tools(), "gh's tools are listed")
        deleted = httpx.delete(
            giru.url("/api/v1/secrets/github-token"), headers=ADMIN_HEADERS, timeout=30
        )
        assert deleted.status_code == 204

        def refused() -> bool:
            error = mcp.call("gh__whoami").get("error")
            return error is not None and error["data"]["reason"] == "credentials_unavailable"

        wait_until(refused, "gh's calls answer credentials_unavailable")
        error = mcp.call("gh__whoami")["error"]
        assert error["data"] == {"reason": "credentials_unavailable", "server": "gh"}
        assert "github-token" in error["message"]
        assert mcp.text("plain__whoami") == "-"


def test_with_vault_stopped_calls_needing_a_secret_fail_and_the_others_go_on(
    tmp_path: Path, vault_server: VaultServer
) -> None:
    vault_env = {
        **NO_POLICY,
        "GIRU_SECRETS__BACKEND": "vault",
        "GIRU_SECRETS__VAULT__URL": vault_server.url,
        "GIRU_SECRETS__VAULT__TOKEN": vault_server.root_token,
        "GIRU_SECRETS__ENVIRONMENT": "e2e",
        "GIRU_SECRETS__CACHE_TTL_S": "0.5",
    }
    with (
        headers_upstream(tmp_path) as upstream,
        run_giru(
            CLIENT + "---" + http_auth_server("plain", upstream.url, "{type: none}"),
            tmp_path,
            extra_env=vault_env,
        ) as giru,
    ):
        put_secret(giru, "github-token", TOKEN)
        shown = vault_server.cli("kv", "get", "-mount=secret", "giru/e2e/secrets/github-token")
        assert shown["data"]["data"] == {"value": TOKEN}
        apply(giru, http_auth_server("gh", upstream.url, STATIC))
        mcp = Mcp(giru).open()
        wait_until(lambda: "gh__whoami" in mcp.tools(), "gh's tools are listed")
        assert mcp.text("gh__whoami") == f"Bearer {TOKEN}"
        vault_server.stop()

        def refused() -> bool:
            error = mcp.call("gh__whoami").get("error")
            return error is not None and error["data"]["reason"] == "credentials_unavailable"

        wait_until(refused, "once the cached value expired, gh's calls are refused")
        assert mcp.text("plain__whoami") == "-"
        vault_server.start()  # the dev server forgot everything: the secret is gone
        error = mcp.call("gh__whoami")["error"]
        assert error["data"] == {"reason": "credentials_unavailable", "server": "gh"}
        assert all(KEY not in value for headers in upstream.seen() for value in headers.values())
