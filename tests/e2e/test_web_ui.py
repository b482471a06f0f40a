"""The web UI end to end: a real `giru run` over the quickstart configuration (its two HTTP
upstreams on free ports), driven by Debian's Chromium through playwright-core
(web/e2e/ui.mjs, one scenario per test). The screenshot run writes docs/ui/ and prints the
first load's transfer size and the overview's render time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.calls import tool_call
from tests.integration.gateway import ADMIN_TOKEN, RunningGiru, run_giru
from tests.peers import (
    TOOLS,
    everything_argv,
    free_port,
    go_fixture_argv,
    node_env,
    require_tools,
    start_peer,
    wait_for_port,
)
from tests.web import CHROMIUM, WEB, require_web, run_node

pytestmark = pytest.mark.integration

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"
DEMO_KEY = "giru-ui-e2e-demo-key-0123456789"
MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">'
XSS_CLIENT = "xss-claims"
FIRST_LOAD_BUDGET = 250 * 1024


PCI_POLICY = """
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: cards}
spec:
  packs: [pci_dss]
  selector: {servers: [everything]}
"""


def _quickstart(conformance: int, everything: int) -> str:
    """examples/quickstart/ as one document stream, its HTTP upstreams moved to free ports,
    plus the PCI DSS pack on the `everything` server (so the audit log holds a denial)."""
    documents = [path.read_text() for path in sorted(QUICKSTART.glob("*.yaml"))]
    text = "\n---\n".join([*documents, PCI_POLICY])
    return text.replace("127.0.0.1:3001", f"127.0.0.1:{conformance}").replace(
        "127.0.0.1:3002", f"127.0.0.1:{everything}"
    )


def _traffic(giru: RunningGiru) -> None:
    """Real data for the pages: synced catalogs, calls that succeed and fail, a hostile name."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=giru.base, headers=admin, timeout=30.0) as api:
        for server in ("everything", "memory", "conformance", "everything-sse"):
            api.post(f"/api/v1/servers/{server}/sync")
        created = api.post(
            "/api/v1/clients",
            json={"metadata": {"name": XSS_CLIENT}, "spec": {"claims": {"team": MARKUP}}},
        )
        assert created.status_code == 201, created.text
    with httpx.Client(base_url=giru.base, timeout=30.0) as mcp:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("everything__echo", {"message": "hello from the UI test"}),
            ("everything__get-sum", {"a": 2, "b": 3}),
            ("memory__read_graph", {}),
            ("everything__echo", {"message": "again"}),
            ("everything__echo", {"message": "card 4111 1111 1111 1111"}),
            ("nowhere__nothing", {}),
        ]
        for number, (name, arguments) in enumerate(calls, start=1):
            body, headers = tool_call(DEMO_KEY, name, arguments, number)
            mcp.post("/mcp", content=body, headers=headers)


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    require_tools(TOOLS.node, TOOLS.go_fixture)
    require_web(CHROMIUM, WEB / "node_modules" / "playwright-core")
    root = tmp_path_factory.mktemp("web-ui")
    conformance, everything = free_port(), free_port()
    peers = [
        start_peer(
            "conformance",
            go_fixture_argv(f"127.0.0.1:{conformance}", stateless=False),
            root,
        ),
        start_peer(
            "everything-sse", everything_argv("sse"), root, node_env({"PORT": str(everything)})
        ),
    ]
    try:
        for peer, port in zip(peers, (conformance, everything), strict=True):
            wait_for_port(peer, port)
        with run_giru(
            _quickstart(conformance, everything), root, extra_env={"GIRU_DEMO_KEY": DEMO_KEY}
        ) as running:
            _traffic(running)
            yield running
    finally:
        for peer in peers:
            peer.stop()


def _scenario(giru: RunningGiru, name: str, **env: str) -> dict[str, Any]:
    result = run_node(
        ["e2e/ui.mjs", name],
        timeout=240.0,
        env={"GIRU_URL": giru.base, "GIRU_ADMIN_TOKEN": ADMIN_TOKEN, **env},
    )
    assert result.returncode == 0, f"{name}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(found, dict)
    return found


def test_the_ui_client_matches_the_live_openapi_document(giru: RunningGiru) -> None:
    live = httpx.get(giru.url("/api/openapi.json"), timeout=10.0).json()
    committed = json.loads((WEB / "src" / "lib" / "api" / "openapi.json").read_text())
    assert live == committed, "the API changed: run `make ui-api` and adapt the UI"


def test_a_new_clients_key_is_shown_once_and_works(giru: RunningGiru) -> None:
    seen = _scenario(giru, "key-once")
    assert seen["key"], seen
    assert seen["listed"]
    assert not seen["seenAgain"], "the key was shown again after it was dismissed"
    body, headers = tool_call(seen["key"], "everything__echo", {"message": "new key"}, 1)
    answer = httpx.post(giru.url("/mcp"), content=body, headers=headers, timeout=30.0)
    assert answer.status_code == 200, answer.text
    assert "error" not in orjson.loads(answer.content), answer.text


def test_markup_in_a_stored_value_renders_as_text(giru: RunningGiru) -> None:
    seen = _scenario(giru, "xss", GIRU_XSS_CLIENT=XSS_CLIENT)
    assert MARKUP in (seen["text"] or "")
    assert seen["images"] == 0
    assert seen["scripts"] == 0
    assert seen["pwned"] is None
    assert seen["dialogs"] == 0


def test_the_ui_refuses_to_be_framed(giru: RunningGiru) -> None:
    seen = _scenario(giru, "framing")
    assert "frame-ancestors 'none'" in seen["csp"]
    assert seen["xfo"] == "DENY"
    assert not seen["appInFrame"], seen


def test_the_what_if_panel_shows_a_decision_and_refuses_bad_json(giru: RunningGiru) -> None:
    seen = _scenario(giru, "what-if")
    assert seen["first"].startswith(("Allowed", "Denied")), seen
    assert "Not JSON" in seen["refused"]


def test_a_rejected_token_signs_in_again_and_returns_to_the_page(giru: RunningGiru) -> None:
    seen = _scenario(giru, "reauth")
    assert seen["tokenStored"], "the token is kept in sessionStorage"
    assert seen["localStorageItems"] == 0
    assert seen["next"] == "/ui/audit?outcome=allowed"
    assert seen["back"] == "/ui/audit?outcome=allowed"


def test_every_page_renders_at_desktop_and_phone_width_in_both_themes(giru: RunningGiru) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    seen = _scenario(giru, "screenshots", GIRU_SHOTS=str(SHOTS))
    print(
        f"\nweb UI first load: {seen['firstLoadBytes'] / 1024:.1f} KB transferred "
        f"(budget {FIRST_LOAD_BUDGET // 1024} KB); overview rendered in {seen['renderMs']:.0f} ms"
    )
    assert len(seen["written"]) == 40  # 9 pages and sign-in, 2 widths, 2 themes
    assert all(Path(path).stat().st_size > 0 for path in seen["written"])
    assert seen["firstLoadBytes"] <= FIRST_LOAD_BUDGET
