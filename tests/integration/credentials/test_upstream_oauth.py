"""`oauth2-client-credentials` and `mtls` through a real `giru run`: the upstream sees Giru's own
token (or certificate), never the client's key; one token request serves many calls; a token
endpoint that refuses fails only that server's calls, audited."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.credentials.calls import (
    ADMIN_HEADERS,
    Mcp,
    apply,
    headers_upstream,
    http_auth_server,
    put_secret,
)
from tests.integration.gateway import CLIENT, KEY, REPO, run_giru, wait_until

pytestmark = pytest.mark.integration

NO_POLICY = {"GIRU_POLICY__ENABLED": "false"}


def client_credentials(token_endpoint: str, method: str = "client_secret_basic") -> str:
    return (
        f"{{type: oauth2-client-credentials, tokenEndpoint: {token_endpoint}, clientId: giru, "
        f"authMethod: {method}, clientSecret: {{secretRef: {{name: cc-client}}}}, scopes: [mcp]}}"
    )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_send_giru_s_token_never_the_client_s_key(
    tmp_path: Path, method: str
) -> None:
    with (
        headers_upstream(tmp_path) as upstream,
        run_giru(CLIENT, tmp_path, extra_env=NO_POLICY) as giru,
    ):
        put_secret(giru, "cc-client", "cc-secret")
        apply(
            giru,
            http_auth_server(
                "crm", upstream.url, client_credentials(upstream.token_endpoint, method)
            ),
        )
        mcp = Mcp(giru).open()
        wait_until(lambda: "crm__whoami" in mcp.tools(), "crm's tools are listed")
        answers = {mcp.text("crm__whoami") for _ in range(5)}
        assert answers == {"Bearer cc-1"}
        requests = upstream.requests()
        token_requests = [h for path, h in requests if path == "/token"]
        assert len(token_requests) == 1, "one token request serves every call"
        mcp_requests = [h for path, h in requests if path == "/mcp" and "content-type" in h]
        assert mcp_requests
        assert all(h.get("authorization") == "Bearer cc-1" for h in mcp_requests)
        assert all(KEY not in value for _, h in requests for value in h.values())


def test_a_refusing_token_endpoint_fails_only_that_server_and_is_audited(tmp_path: Path) -> None:
    with (
        headers_upstream(tmp_path) as upstream,
        run_giru(
            CLIENT + "---" + http_auth_server("plain", upstream.url, "{type: none}"),
            tmp_path,
            extra_env=NO_POLICY,
        ) as giru,
    ):
        put_secret(giru, "cc-client", "wrong-secret")
        manifest = http_auth_server(
            "crm", upstream.url, client_credentials(upstream.token_endpoint)
        )
        apply(giru, manifest)
        mcp = Mcp(giru).open()
        wait_until(lambda: "plain__whoami" in mcp.tools(), "plain's tools are listed")

        def refusals() -> list[dict[str, Any]]:
            query = {"action": "credentials/token", "server": "crm"}
            listed = httpx.get(
                giru.url("/api/v1/audit"), params=query, headers=ADMIN_HEADERS, timeout=30
            )
            assert listed.status_code == 200, listed.text
            return [r for r in listed.json()["items"] if r["outcome"] == "error"]

        wait_until(lambda: bool(refusals()), "the refused token request is audited")
        record = refusals()[0]
        assert record["actor"] == "giru"
        assert record["details"]["error"] == "invalid_client"
        assert "crm__whoami" not in mcp.tools()
        assert mcp.text("plain__whoami") == "-"
        logged = giru.log.read_text()
        assert "wrong-secret" not in logged
        assert "wrong-secret" not in str(record)


def dev_certificates(directory: Path) -> tuple[Path, Path, Path, Path, Path]:
    """scripts/dev-ca.sh's CA and server certificate, plus a client certificate it signs."""
    subprocess.run(["bash", str(REPO / "scripts" / "dev-ca.sh"), str(directory)], check=True)
    key, csr, cert = directory / "client.key", directory / "client.csr", directory / "client.pem"
    subprocess.run(
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=giru-gateway", "-keyout", str(key), "-out", str(csr)],
        check=True, capture_output=True,
    )  # fmt: skip
    extensions = directory / "client.cnf"
    extensions.write_text("extendedKeyUsage=clientAuth\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(directory / "ca.pem"),
         "-CAkey", str(directory / "ca.key"), "-days", "2", "-set_serial", "0x1d",
         "-extfile", str(extensions), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return directory / "edge.pem", directory / "edge.key", directory / "ca.pem", cert, key


def test_mtls_presents_the_client_certificate_from_secrets(tmp_path: Path) -> None:
    server_cert, server_key, ca, client_cert, client_key = dev_certificates(tmp_path / "ca")
    mtls = (
        "{type: mtls, certificate: {secretRef: {name: ledger-mtls, key: cert}}, "
        "key: {secretRef: {name: ledger-mtls, key: key}}, "
        "ca: {secretRef: {name: ledger-mtls, key: ca}}}"
    )
    with (
        headers_upstream(tmp_path, tls=(server_cert, server_key, ca)) as upstream,
        run_giru(CLIENT, tmp_path, extra_env=NO_POLICY) as giru,
    ):
        entries = {
            "cert": client_cert.read_text(),
            "key": client_key.read_text(),
            "ca": ca.read_text(),
        }
        put_secret(giru, "ledger-mtls", entries)
        apply(giru, http_auth_server("ledger", upstream.url, mtls))
        mcp = Mcp(giru).open()
        wait_until(lambda: "ledger__peer" in mcp.tools(), "ledger's tools are listed")
        assert mcp.text("ledger__peer") == "giru-gateway"
        assert mcp.text("ledger__whoami") == "-"
        assert all(KEY not in value for h in upstream.seen() for value in h.values())


def test_a_token_the_upstream_refuses_is_replaced_once_and_the_call_retried_once(
    tmp_path: Path,
) -> None:
    with (
        headers_upstream(tmp_path) as upstream,
        run_giru(CLIENT, tmp_path, extra_env=NO_POLICY) as giru,
    ):
        put_secret(giru, "cc-client", "cc-secret")
        manifest = http_auth_server(
            "crm", upstream.url, client_credentials(upstream.token_endpoint)
        )
        apply(giru, manifest)
        mcp = Mcp(giru).open()
        wait_until(lambda: "crm__whoami" in mcp.tools(), "crm's tools are listed")
        assert mcp.text("crm__whoami") == "Bearer cc-1"
        assert mcp.text("crm__refuse") == "refused"  # cc-1 revoked behind Giru's back

        assert mcp.text("crm__whoami") == "Bearer cc-2"  # one 401, one new token, one retry
        assert [path for path, _ in upstream.requests()].count("/token") == 2

        assert mcp.text("crm__refuse", {"every": True}) == "refused"
        before = len(upstream.requests())
        assert mcp.text("crm__whoami") is None  # refused again after the retry: an error
        paths = [path for path, _ in upstream.requests()[before:]]
        assert paths.count("/token") == 1, paths
        assert 2 <= paths.count("/mcp") <= 3, paths  # the call and one retry: no loop
