"""Subscriptions decide what each client sees and may call, driven end to end with the CLI.

The issue's acceptance flow, twice: one embedded `giru run` (SQLite, in-process change events),
and two `giru run` workers sharing a real PostgreSQL and a real Redis, where every change is made
through worker A and checked on both. A client's `tools/list` (2025-11-25 session and 2026-07-28
stateless) must show exactly the subscribed tools; suspending the subscription makes them vanish
and calls fail with the unknown-tool answer; resuming brings them back. How long each change took
to reach the data path is printed (speed is reported, not asserted).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.integration.gateway import (
    ADMIN_TOKEN,
    GIRU,
    RunningGiru,
    python_stdio_server,
    run_giru,
)

pytestmark = pytest.mark.integration

ALICE_KEY = "giru_alice-e2e-key-0123456789abcdef"
BOB_KEY = "giru_bob-e2e-key-0123456789abcdef"
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
WAIT_S = 10.0
SUBSCRIBED = {"kit__echo", "kit__slow"}


def _sha256(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _client(name: str, key: str) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: {name}}}
spec:
  apiKeyHash: "{_sha256(key)}"
"""


SUBSCRIPTION = """
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {name: alice-kit}
spec:
  client: alice
  server: kit
  scopeType: selective
  scopeTools: [echo, slow]
"""


class Mcp:
    """Raw MCP over HTTP to one worker, both eras."""

    def __init__(self, giru: RunningGiru, key: str) -> None:
        self.giru = giru
        self.http = httpx.Client(timeout=10.0)
        self.base = {
            "authorization": f"Bearer {key}",
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
        }
        self.session: str | None = None
        self.ids = itertools.count(1)

    def close(self) -> None:
        self.http.close()

    def post(self, message: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        return self.http.post(
            self.giru.url("/mcp"), content=orjson.dumps(message), headers={**self.base, **headers}
        )

    def legacy(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.session is None:
            init = {"protocolVersion": LEGACY, "capabilities": {}}
            response = self.post(
                {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}, {}
            )
            assert response.status_code == 200, response.text
            self.session = response.headers["mcp-session-id"]
            done = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, self._ids())
            assert done.status_code == 202
        message = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params or {}}
        response = self.post(message, self._ids())
        assert response.status_code == 200, response.text
        return dict(orjson.loads(response.content))

    def modern(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        meta = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        message = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": method,
            "params": {**(params or {}), "_meta": meta},
        }
        headers = {"mcp-protocol-version": MODERN, "mcp-method": method}
        if params and "name" in params:
            headers["mcp-name"] = params["name"]
        response = self.post(message, headers)
        assert response.status_code == 200, response.text
        return dict(orjson.loads(response.content))

    def _ids(self) -> dict[str, str]:
        return {"mcp-session-id": self.session or "", "mcp-protocol-version": LEGACY}

    def tools(self, era: str) -> set[str]:
        answer = self.legacy("tools/list") if era == "legacy" else self.modern("tools/list")
        return {tool["name"] for tool in answer["result"]["tools"]}

    def call(self, era: str, name: str) -> dict[str, Any]:
        params = {"name": name, "arguments": {"text": "hi"}}
        return (
            self.legacy("tools/call", params)
            if era == "legacy"
            else self.modern("tools/call", params)
        )


class Cli:
    def __init__(self, api: str, workdir: Path) -> None:
        self.env = {**os.environ, "GIRU_API_URL": api, "GIRU_TOKEN": ADMIN_TOKEN}
        self.env["XDG_CONFIG_HOME"] = str(workdir / "xdg")
        self.workdir = workdir

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [str(GIRU), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"giru {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def apply(self, name: str, manifests: str) -> str:
        path = self.workdir / name
        path.write_text(manifests)
        return self("apply", "-f", str(path))


def _sees(mcp: Mcp, era: str, tools: set[str]) -> Callable[[], bool]:
    return lambda: mcp.tools(era) == tools


def _until(check: Callable[[], bool], what: str) -> float:
    """Seconds until `check()` held; fails after WAIT_S."""
    started = time.monotonic()
    while time.monotonic() - started < WAIT_S:
        with contextlib.suppress(AssertionError):  # e.g. 401 until the new client arrives
            if check():
                return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"not within {WAIT_S}s: {what}")


def _report(change: str, mcp: Mcp, issued: float, after_cli: float) -> None:
    total = time.monotonic() - issued
    print(f"{change} -> {mcp.giru.base}: {total:.3f}s from the CLI call, {after_cli:.3f}s after")


@pytest.fixture(params=["sqlite-one-worker", "postgres-two-workers-redis"])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[RunningGiru]]:
    with ExitStack() as stack:
        if request.param == "sqlite-one-worker":
            yield [stack.enter_context(run_giru(None, tmp_path))]
            return
        shared = {
            "GIRU_DATABASE_URL": request.getfixturevalue("postgres_url"),
            "GIRU_REDIS_URL": request.getfixturevalue("redis_url"),
            "GIRU_KEY_PEPPER": "e2e-pepper-0123456789abcdef",
        }
        running = []
        for index in range(2):
            workdir = tmp_path / f"worker{index}"
            workdir.mkdir()
            running.append(stack.enter_context(run_giru(None, workdir, extra_env=shared)))
        yield running


def test_subscriptions_decide_tools_on_every_worker(
    workers: list[RunningGiru], tmp_path: Path
) -> None:
    cli = Cli(workers[0].base, tmp_path)
    cli.apply(
        "base.yaml",
        "---".join(
            [python_stdio_server("kit"), _client("alice", ALICE_KEY), _client("bob", BOB_KEY)]
        ),
    )
    alices = [Mcp(w, ALICE_KEY) for w in workers]
    bobs = [Mcp(w, BOB_KEY) for w in workers]
    try:
        for alice in alices:  # known, authenticated, but granted nothing yet
            _until(_sees(alice, "modern", set()), "alice starts with no tools")

        cli.apply("subscription.yaml", SUBSCRIPTION)
        for alice in alices:
            took = _until(_sees(alice, "modern", SUBSCRIBED), "subscribed tools appear")
            print(f"subscribe -> {alice.giru.base}: {took:.3f}s")
            assert alice.tools("legacy") == SUBSCRIBED
            assert alice.call("modern", "kit__echo")["result"]["content"][0]["text"] == "hi"
        for bob in bobs:
            assert bob.tools("legacy") == set()
            assert bob.tools("modern") == set()
            assert bob.call("modern", "kit__echo")["error"]["code"] == -32602

        issued = time.monotonic()
        cli("subscription", "suspend", "alice-kit")
        for alice in alices:  # the legacy session opened before the change follows it too
            took = _until(_sees(alice, "legacy", set()), "tools vanish")
            _report("suspend", alice, issued, took)
            assert alice.tools("modern") == set()
            for era in ("legacy", "modern"):
                error = alice.call(era, "kit__echo")["error"]
                assert error["code"] == -32602
                assert "Unknown tool" in error["message"]

        issued = time.monotonic()
        cli("subscription", "resume", "alice-kit")
        for alice in alices:
            took = _until(_sees(alice, "legacy", SUBSCRIBED), "tools return")
            _report("resume", alice, issued, took)
            assert alice.tools("modern") == SUBSCRIBED
            assert alice.call("legacy", "kit__echo")["result"]["content"][0]["text"] == "hi"
    finally:
        for mcp in alices + bobs:
            mcp.close()
