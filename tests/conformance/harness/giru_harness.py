"""`conformance client --command` harness: Giru in front of the suite's mock server.

    .venv/bin/python tests/conformance/harness/giru_harness.py [--client PATH] <mock-server-url>

The suite appends its mock server's URL as the last argument and sets MCP_CONFORMANCE_SCENARIO /
MCP_CONFORMANCE_PROTOCOL_VERSION / MCP_CONFORMANCE_CONTEXT. The harness declares that URL as a
`streamable-http` MCPServer behind an unprefixed `auth: none` VirtualServer, starts `giru run` on
a free loopback port, then runs the reference client (the Go SDK's conformance everything-client,
which implements each scenario) against Giru's virtual-server URL with the same environment. The
mock server therefore records *Giru's* behaviour as an MCP client. The exit code is the client's.

For the authorization-code `auth/*` scenarios the mock is declared with a `shared`
`oauth2-authorization-code` connection: the harness connects it as an admin would (the
authorization URL from the API, opened by an HTTP client that follows the suite's
auto-approving authorization server back to Giru's /oauth/callback), then runs the reference
client; when Giru reports the connection `needs_reconnect` (step-up), it connects again and
reruns the client, at most three rounds.

With GIRU_HARNESS_REPORT_DIR set, it also writes `<dir>/<scenario>@<version>.json`: the client's
exit code, Giru's log tail and, for `tools_call`, the content Giru returns for `add_numbers`
(called once more with the Python SDK after the reference client succeeded, in the same era).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # run as a script by the suite
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests.integration.gateway import ADMIN_TOKEN, RunningGiru, http_server, run_giru  # noqa: E402

DEFAULT_CLIENT = REPO / ".tools" / "bin" / "everything-client"
VIRTUAL_SERVER = "conformance"
CLIENT_TIMEOUT = 25.0  # the suite kills the harness after 30 s (its default --timeout)


def manifests(upstream_url: str) -> str:
    """The mock as the only upstream of an unprefixed, unauthenticated virtual server."""
    virtual = f"""
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {{name: {VIRTUAL_SERVER}}}
spec:
  servers: [mock]
  prefix: false
  auth: none
"""
    # The operator's pin: the mock speaks exactly the era the suite tests (its answers to the
    # other era's probe are not conclusive), so Giru sends no probe of the other era first.
    era = (
        "modern" if os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") == "2026-07-28" else "legacy"
    )
    server = http_server("mock", "streamable-http", upstream_url, era)
    auth = upstream_auth(os.environ.get("MCP_CONFORMANCE_SCENARIO", ""))
    if auth is not None:
        server += f"  auth: {auth[0]}\n"
    return "---".join([server, virtual])


# The client-credentials extension scenarios: Giru itself is the OAuth client of the mock's
# authorization server (discovered from the mock's 401), with the credentials the suite hands
# the client in MCP_CONFORMANCE_CONTEXT, stored as a Giru secret.
CLIENT_CREDENTIALS = {
    "auth/client-credentials-basic": "client_secret_basic",
    "auth/client-credentials-jwt": "private_key_jwt",
}
SECRET = "conformance-client"
CIMD_URL = "https://conformance-test.local/client-metadata.json"
"""The Client ID Metadata Document URL the basic-cimd scenario's authorization server expects
(the reference client's too): for Giru an `https` `clientId` in the manifest is such a URL (its
own document needs an `https` public URL, which the harness's loopback Giru lacks)."""


def upstream_auth(scenario: str) -> tuple[str, dict[str, str]] | None:
    """(the mock's `spec.auth`, the secret's entries) for scenarios where Giru authenticates."""
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    if scenario == "auth/basic-cimd":  # the suite's Client ID Metadata Document URL
        context = {"client_id": CIMD_URL, **context}
    if authorization_code(scenario):
        return connection_auth(context)
    method = CLIENT_CREDENTIALS.get(scenario)
    if method is None:
        return None
    field = "privateKey" if method == "private_key_jwt" else "clientSecret"
    value = context["private_key_pem" if method == "private_key_jwt" else "client_secret"]
    auth = (
        f"{{type: oauth2-client-credentials, clientId: {json.dumps(context['client_id'])}, "
        f"authMethod: {method}, {field}: {{secretRef: {{name: {SECRET}}}}}}}"
    )
    return auth, {"value": value}


def authorization_code(scenario: str) -> bool:
    """The `auth/*` scenarios where a person signs in (all but the extension scenarios)."""
    return scenario.startswith("auth/") and scenario not in CLIENT_CREDENTIALS


def connection_auth(context: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A shared connection; with the suite's pre-registered client when it hands one."""
    fields = ["type: oauth2-authorization-code", "connection: shared"]
    entries: dict[str, str] = {}
    if "client_id" in context:
        fields.append(f"clientId: {json.dumps(context['client_id'])}")
        if context.get("client_secret"):
            fields.append(f"clientSecret: {{secretRef: {{name: {SECRET}}}}}")
            entries["value"] = context["client_secret"]
    return "{" + ", ".join(fields) + "}", entries


def connect(running: RunningGiru) -> dict[str, Any]:
    """What an admin does with `giru connect mock`: the authorization URL, opened by a "browser"
    that follows the conformance authorization server's (auto-approving) redirects back to
    Giru's /oauth/callback. Returns what happened, for the report."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    started = httpx.post(
        running.url("/api/v1/servers/mock/connections"), headers=headers, timeout=30
    )
    if started.status_code != 201:
        return {"status": started.status_code, "body": started.text[:1000]}
    url = started.json()["authorizationUrl"]
    with httpx.Client(follow_redirects=True, timeout=30, max_redirects=10) as browser:
        try:
            landed = browser.get(url)
        except httpx.HTTPError as exc:
            return {"authorizationUrl": url, "error": f"{type(exc).__name__}: {exc}"}
    return {"authorizationUrl": url, "status": landed.status_code, "body": landed.text[:500]}


def connection_status(running: RunningGiru) -> str:
    """The shared connection's status (`connected`, `needs_reconnect`) or `none`."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    listed = httpx.get(running.url("/api/v1/servers/mock/connections"), headers=headers, timeout=30)
    items = listed.json().get("items", []) if listed.status_code == 200 else []
    return str(items[0]["status"]) if items else "none"


def wait_for_tools(running: RunningGiru, url: str, version: str) -> None:
    """Until Giru lists the mock's tools (it lists them again once connected), bounded; not
    when listing them made the connection `needs_reconnect` (no tools will come)."""

    async def listed() -> None:
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        mode = "legacy" if version < "2026" else version
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while time.monotonic() < deadline:
            async with Client(streamable_http_client(url), mode=mode) as client:
                if (await client.list_tools()).tools:
                    return
            if await asyncio.to_thread(connection_status, running) == "needs_reconnect":
                return
            await asyncio.sleep(0.2)

    try:
        asyncio.run(listed())
    except Exception:  # the reference client's run says what went wrong
        return


CONNECT_ROUNDS = 3  # connect, then reconnect at most twice (step-up)


def run_connected_client(
    running: RunningGiru, client: Path, url: str, version: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """The admin connects the mock, then the reference client runs through Giru; when Giru
    says the connection must be made again (step-up on `insufficient_scope`), the admin
    reconnects and the client runs again, a bounded number of times."""
    rounds: list[dict[str, Any]] = []
    done = subprocess.CompletedProcess[str]([], 1, "", "[harness] never connected")
    for _ in range(CONNECT_ROUNDS):
        rounds.append(connect(running))
        if rounds[-1].get("status") == 200:  # refused (a bad issuer...): no tools will come
            wait_for_tools(running, url, version)
        done = run_client(client, url)
        rounds[-1]["client_exit"] = done.returncode
        if done.returncode == 0 or connection_status(running) != "needs_reconnect":
            break
    return done, rounds


def store_secret(running: RunningGiru, entries: dict[str, str]) -> None:
    """Put the scenario's client credentials into Giru (its first connect to the mock, before
    they existed, failed: the next one uses them)."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url = running.url(f"/api/v1/secrets/{SECRET}")
    response = httpx.put(url, json={"data": entries}, headers=headers, timeout=30)
    response.raise_for_status()


def run_client(client: Path, url: str) -> subprocess.CompletedProcess[str]:
    """The reference client against `url`, inheriting the suite's MCP_CONFORMANCE_* env."""
    try:
        return subprocess.run(
            [str(client), url],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return subprocess.CompletedProcess(exc.cmd, 124, out, err + "\n[harness] client timed out")


async def call_add_numbers(url: str, version: str) -> list[dict[str, Any]]:
    """Calls add_numbers(5, 3) through Giru with the Python SDK; returns the content blocks."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    mode = "legacy" if version < "2026" else version
    async with Client(streamable_http_client(url), mode=mode) as client:
        result = await client.call_tool("add_numbers", {"a": 5, "b": 3})
    return [block.model_dump(mode="json", exclude_none=True) for block in result.content]


def run_sdk_client(url: str, version: str) -> subprocess.CompletedProcess[str]:
    """For scenarios the Go client does not implement (Giru is the OAuth client there): the
    Python SDK lists Giru's tools and calls the mock's `test-tool` until it answers (the mock's
    tools appear once Giru has its token)."""

    async def drive() -> str:
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        mode = "legacy" if version < "2026" else version
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while True:
            async with Client(streamable_http_client(url), mode=mode) as client:
                names = [tool.name for tool in (await client.list_tools()).tools]
                if "test-tool" in names:
                    result = await client.call_tool("test-tool", {})
                    return str(result.content[0].model_dump(mode="json"))
            if time.monotonic() > deadline:
                raise TimeoutError(f"test-tool never listed (tools: {names})")
            await asyncio.sleep(0.2)  # the gateway syncs the mock's catalog meanwhile

    try:
        answer = asyncio.run(drive())
    except Exception as exc:  # reported: the suite judges the exit code
        return subprocess.CompletedProcess([], 1, "", f"{type(exc).__name__}: {exc}")
    return subprocess.CompletedProcess([], 0, answer, "")


def verify(scenario: str, version: str, url: str) -> dict[str, Any]:
    if scenario != "tools_call":
        return {}
    try:
        return {"content": asyncio.run(call_add_numbers(url, version))}
    except Exception as exc:  # reported: the test asserts on the content
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--client", type=Path, default=DEFAULT_CLIENT)
    parser.add_argument("upstream", help="the suite's mock server URL (appended by the suite)")
    args = parser.parse_args(argv)
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION", "2025-11-25")
    report_dir = os.environ.get("GIRU_HARNESS_REPORT_DIR")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="giru-harness-") as tmp:
        workdir = Path(tmp)
        running: RunningGiru
        extra: dict[str, Any] = {}
        with run_giru(manifests(args.upstream), workdir, ready_timeout=60.0) as running:
            url = running.url(f"/mcp/{VIRTUAL_SERVER}")
            auth = upstream_auth(scenario)
            if auth is not None and auth[1]:
                store_secret(running, auth[1])
            if authorization_code(scenario):
                done, rounds = run_connected_client(running, args.client, url, version)
                extra = {"connect": rounds}
            elif auth is not None:
                done = run_sdk_client(url, version)
            else:
                done = run_client(args.client, url)
            # Only after the reference client succeeded: its tools/call came first, so the
            # mock's checks (which look at the first call) judge the reference client's call.
            if report_dir and done.returncode == 0:
                extra.update(verify(scenario, version, url))
        log = running.log.read_text(errors="replace")
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if report_dir:
        report = {
            "scenario": scenario,
            "version": version,
            "upstream": args.upstream,
            "client_exit": done.returncode,
            "client_stderr": done.stderr[-4000:],
            "giru_log": log[-6000:],
            "seconds": round(time.monotonic() - started, 2),
            **extra,
        }
        name = f"{scenario.replace('/', '_')}@{version}.json"
        (Path(report_dir) / name).write_text(json.dumps(report, indent=2))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
