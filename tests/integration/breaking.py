"""An upstream that goes away and comes back, for the tests of the circuit breaker's status:
everything.py over HTTP on a port the test owns, and calls through Giru that open its breaker
(the upstream gone: each call times out) and close it again (the upstream back)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.e2e.calls import tool_call
from tests.integration.gateway import (
    ADMIN_TOKEN,
    CLIENT,
    KEY,
    SERVERS,
    RestartableServer,
    RunningGiru,
    run_giru,
    wait_until,
)

NAME = "flaky"
FAILURES_TO_OPEN = 5
"""The breaker's threshold (giru.proxy.breaker)."""
COOL_DOWN_S = 10.0
"""How long an open breaker refuses calls before the next one decides (giru.proxy.breaker)."""
HEALTH_CHECKS_OFF = {"GIRU_CATALOG__HEALTH_INTERVAL_S": "3600"}
"""One health check at start-up only: the breaker, not the checker, notices the outage."""


class FlakyUpstream(RestartableServer):
    def __init__(self) -> None:
        script = str(SERVERS / "everything.py")
        super().__init__(lambda fd: [sys.executable, script, "http", str(fd)], dict(os.environ))

    def manifest(self) -> str:
        return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {NAME}}}
spec:
  transport: streamable-http
  url: {self.url}
  timeouts: {{call: 1s, callMax: 2s, connect: 1s}}
  trust: auto
"""


@contextlib.contextmanager
def flaky_giru(tmp_path: Path) -> Iterator[tuple[RunningGiru, FlakyUpstream]]:
    """A `giru run` over the flaky upstream (health checks off), and that upstream."""
    upstream = FlakyUpstream()
    try:
        manifests = "---".join([upstream.manifest(), CLIENT])
        with run_giru(manifests, tmp_path, extra_env=HEALTH_CHECKS_OFF) as giru:
            yield giru, upstream
    finally:
        upstream.close()


def call(giru: RunningGiru, number: int) -> dict[str, Any]:
    """One `flaky__echo` through Giru; the JSON-RPC answer."""
    body, headers = tool_call(KEY, f"{NAME}__echo", {"text": f"call {number}"}, number)
    answer = httpx.post(giru.url("/mcp"), content=body, headers=headers, timeout=30.0)
    assert answer.headers.get("content-type", "").startswith("application/json"), (
        answer.status_code,
        answer.headers,
        answer.text,
    )
    message = orjson.loads(answer.content)
    assert isinstance(message, dict), answer.text
    return message


def breaker(giru: RunningGiru) -> dict[str, Any]:
    """The server's `status.breaker` from the admin API."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = httpx.get(giru.url(f"/api/v1/servers/{NAME}"), headers=admin, timeout=10.0)
    assert answer.status_code == 200, answer.text
    found = answer.json()["status"]["breaker"]
    assert isinstance(found, dict)
    return found


def take_down(giru: RunningGiru, upstream: FlakyUpstream) -> list[dict[str, Any]]:
    """Stop the upstream and call it until its breaker opens; the answers."""
    upstream.stop()
    answers = [call(giru, number) for number in range(1, FAILURES_TO_OPEN + 2)]
    assert answers[-1]["error"]["data"].get("circuit") == "open", answers
    return answers


def bring_back(giru: RunningGiru, upstream: FlakyUpstream) -> None:
    """Start the upstream again and call it until a call passes (after the cool-down the next
    call is let through, half-open, and closes the breaker)."""
    upstream.restart()
    numbers = iter(range(100, 10_000))
    wait_until(
        lambda: "result" in call(giru, next(numbers)),
        "a call through the breaker after the upstream came back",
        timeout=COOL_DOWN_S + 20.0,
    )
