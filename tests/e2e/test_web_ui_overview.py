"""The overview's live panels against a real `giru run` (web/e2e/ui.mjs): an upstream's circuit
breaker (`breaker`: a real upstream goes away, calls through Giru open its breaker, the overview
says so prominently and counts the server down; the upstream comes back, a call passes, and the
overview shows it up again without a reload), and quotas near their limit (`quotas`: calls
until a daily quota is 80 % used; the panel names the client and links to the subscription)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.calls import tool_call
from tests.integration.breaking import (
    NAME,
    FlakyUpstream,
    bring_back,
    call,
    flaky_giru,
    take_down,
)
from tests.integration.gateway import (
    ADMIN_TOKEN,
    RunningGiru,
    python_stdio_server,
    run_giru,
    wait_until,
)
from tests.peers import TOOLS, node_env
from tests.web import CHROMIUM, WEB, require_web, run_node

pytestmark = pytest.mark.integration


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[RunningGiru, FlakyUpstream]]:
    require_web(CHROMIUM, WEB / "node_modules" / "playwright-core")
    with flaky_giru(tmp_path) as flaky:
        yield flaky


def test_the_overview_shows_an_open_breaker_as_down_then_up_when_it_closes(
    flaky: tuple[RunningGiru, FlakyUpstream], tmp_path: Path
) -> None:
    giru, upstream = flaky
    assert "result" in call(giru, 0)
    take_down(giru, upstream)
    mark = tmp_path / "open-seen"
    env = {"GIRU_URL": giru.base, "GIRU_ADMIN_TOKEN": ADMIN_TOKEN, "GIRU_SERVER": NAME}
    browser = subprocess.Popen(
        [str(TOOLS.node), "e2e/ui.mjs", "breaker"],
        cwd=WEB,
        env=node_env({**env, "GIRU_MARK": str(mark)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: mark.exists() or browser.poll() is not None, "the open breaker shown", 90
        )
        assert mark.exists(), browser.communicate()
        bring_back(giru, upstream)
        out, err = browser.communicate(timeout=120)
    finally:
        if browser.poll() is None:
            browser.kill()
            browser.communicate()
    assert browser.returncode == 0, f"{out[-4000:]}\n{err[-4000:]}"
    seen = json.loads(out.strip().splitlines()[-1])
    open_ = seen["open"]
    assert open_["alert"].startswith("1 upstream failing: circuit breaker not closed"), open_
    assert f"{NAME}: breaker open since" in open_["alert"], open_
    assert "(upstream_timeout), 1 of 1 worker" in open_["line"], open_
    assert open_["badge"] == "down", open_
    assert open_["card"].startswith("Upstreams 0 up"), open_
    assert "1 down" in open_["card"], open_
    assert seen["closedBadge"] == "up", seen
    assert seen["breakerLines"] == 0, seen
    assert not seen["reloaded"], seen


QUOTA_KEY = "giru_quota-ui-key-0123456789abcdef"


def _quota_manifests() -> str:
    digest = hashlib.sha256(QUOTA_KEY.encode()).hexdigest()
    return "---".join(
        [
            python_stdio_server("kit"),
            f"""
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: alice}}
spec: {{apiKeyHash: "sha256:{digest}"}}
""",
            """
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {name: alice-kit}
spec: {client: alice, server: kit, scopeType: all, quotaPerDay: 5, quotaPerMonth: 1000}
""",
        ]
    )


def test_the_overview_lists_a_quota_near_its_limit_and_links_to_it(tmp_path: Path) -> None:
    require_web(CHROMIUM, WEB / "node_modules" / "playwright-core")
    with run_giru(_quota_manifests(), tmp_path) as giru:
        for number in range(1, 5):  # 4 of 5: 80 %
            body, headers = tool_call(QUOTA_KEY, "kit__echo", {"text": str(number)}, number)
            answer = httpx.post(giru.url("/mcp"), content=body, headers=headers, timeout=30.0)
            assert "result" in answer.json(), answer.text
        result = run_node(
            ["e2e/ui.mjs", "quotas"],
            timeout=240.0,
            env={"GIRU_URL": giru.base, "GIRU_ADMIN_TOKEN": ADMIN_TOKEN},
        )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["rows"] == [["alice", "alice-kit", "kit", "4 of 5 today (80 %)"]], seen
    assert seen["url"].endswith("/ui/subscriptions?client=alice#subscription-alice-kit"), seen
    assert seen["targetRow"], seen
