"""Governance end to end: a real `giru run` with its managed OPA child and the shipped packs.

Calls to a server whose tools are tagged (pci, phi) and rated (high sensitivity) are decided by
OPA under `kind: Policy` objects that enable the PCI DSS, HIPAA and SOC 2 packs: a card number
in the arguments, too many records, a field the role may not see and a missing MFA are each
denied with their control; allowed calls pass, and a card number in a result reaches the client
masked. Killing OPA denies every call while it is down (fail closed) until it is back; a policy
file that does not compile leaves the previous bundle deciding.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.calls import tool_call
from tests.integration.gateway import (
    ADMIN_TOKEN,
    RunningGiru,
    python_stdio_server,
    run_giru,
    wait_until,
)

pytestmark = pytest.mark.integration

NURSE = "giru_policy-e2e-nurse-0123456789abcdef"
PHYSICIAN = "giru_policy-e2e-physician-0123456789ab"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
PAN = "4111 1111 1111 1111"
POLICY_DENIED = -31403
POLICY_UNAVAILABLE = -31503

SERVER_TOOLS = """
  tools:
    charge_card: {tags: [pci]}
    card_on_file: {tags: [pci]}
    patient_records: {tags: [phi]}
    export_ledger: {sensitivity: high}
"""


def _client(name: str, key: str, claims: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"""
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: {name}}}
spec:
  apiKeyHash: "sha256:{digest}"
  servers: [reg]
  claims: {claims}
"""


POLICIES = """
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: regulated}
spec:
  packs: [pci_dss, hipaa, soc2]
  selector: {servers: [reg]}
  data:
    hipaa: {clinical_need_threshold: 10}
"""


def manifests(extra: str = POLICIES) -> str:
    server = python_stdio_server("reg", "regulated.py") + SERVER_TOOLS
    nurse = _client("nurse", NURSE, "{user_id: u-17, role: nurse}")
    physician = _client("physician", PHYSICIAN, "{user_id: u-42, role: physician, mfa: true}")
    return "---".join([server, nurse, physician, extra])


def call(giru: RunningGiru, key: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    body, headers = tool_call(key, f"reg__{tool}", arguments, 1)
    return httpx.post(giru.url("/mcp"), content=body, headers=headers, timeout=10)


def violations(response: httpx.Response) -> list[dict[str, Any]]:
    error = response.json()["error"]
    assert error["code"] == POLICY_DENIED, error
    found: list[dict[str, Any]] = error["data"]["violations"]
    return found


def controls(response: httpx.Response) -> set[str]:
    return {v["control"] for v in violations(response)}


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    with run_giru(manifests(), tmp_path_factory.mktemp("policy")) as running:
        yield running


def test_a_card_number_in_a_payment_tools_arguments_is_denied_under_req_3_4(
    giru: RunningGiru,
) -> None:
    response = call(giru, PHYSICIAN, "charge_card", {"card": PAN, "amount": 12.5})
    assert response.status_code == 403
    assert "PCI DSS Req 3.4" in controls(response)
    assert "1111 1111" not in response.text  # the reason never echoes the number
    event = response.headers["giru-request-id"]
    wait_until(lambda: event in _audited(giru, "policy_denied"), "the denial audited")
    audit = httpx.get(giru.url("/api/v1/audit"), params={"outcome": "policy_denied"}, headers=ADMIN)
    record = next(item for item in audit.json()["items"] if item["eventId"] == event)
    assert record["actor"] == "physician"
    assert record["target"] == "charge_card"
    assert any("PCI DSS Req 3.4" in reason for reason in record["reasons"])
    assert "1111 1111" not in str(record)  # nor does the audit trail
    allowed = call(giru, PHYSICIAN, "charge_card", {"card": "tok_visa_4242", "amount": 12.5})
    assert allowed.json()["result"]["content"][0]["text"] == "charged 12.50"


def test_phi_beyond_the_clinical_need_threshold_is_denied_and_within_it_allowed(
    giru: RunningGiru,
) -> None:
    over = call(giru, NURSE, "patient_records", {"record_count": 11, "fields": ["name"]})
    assert "HIPAA 164.502(b)" in controls(over)
    assert any("threshold" in v["message"] for v in violations(over))
    within = call(giru, NURSE, "patient_records", {"record_count": 10, "fields": ["name"]})
    assert within.json()["result"]["content"][0]["text"] == "10 records with name"


def test_a_field_the_role_may_not_see_is_denied(giru: RunningGiru) -> None:
    response = call(giru, NURSE, "patient_records", {"record_count": 1, "fields": ["diagnosis"]})
    messages = [v["message"] for v in violations(response)]
    assert any("diagnosis" in m and "nurse" in m for m in messages), messages
    physician = call(
        giru, PHYSICIAN, "patient_records", {"record_count": 1, "fields": ["diagnosis"]}
    )
    assert "result" in physician.json()


def test_a_high_sensitivity_tool_and_a_cardholder_data_tool_need_mfa(giru: RunningGiru) -> None:
    assert "SOC 2 CC6.1" in controls(call(giru, NURSE, "export_ledger", {}))
    assert "PCI DSS Req 8.3" in controls(
        call(giru, NURSE, "charge_card", {"card": "tok", "amount": 1})
    )
    allowed = call(giru, PHYSICIAN, "export_ledger", {})
    assert allowed.json()["result"]["content"][0]["text"] == "ledger exported"


def test_a_card_number_in_a_result_reaches_the_client_masked(giru: RunningGiru) -> None:
    result = call(giru, PHYSICIAN, "card_on_file", {"customer": "c-1"}).json()["result"]
    assert result["structuredContent"]["card"] == "**** **** **** 1111"
    assert result["structuredContent"]["note"] == "card **** **** **** 1111 expires 12/30"
    assert PAN not in str(result)


def test_tools_list_hides_what_policy_would_never_allow(giru: RunningGiru) -> None:
    def names(key: str) -> set[str]:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        _, headers = tool_call(key, "x", {}, 1)
        headers = {**headers, "mcp-method": "tools/list"}
        headers.pop("mcp-name")
        params = {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        }
        body["params"] = params
        response = httpx.post(giru.url("/mcp"), json=body, headers=headers, timeout=10)
        return {tool["name"] for tool in response.json()["result"]["tools"]}

    assert "reg__export_ledger" not in names(NURSE)  # no MFA: never allowed
    assert {"reg__export_ledger", "reg__charge_card"} <= names(PHYSICIAN)
    assert "reg__charge_card" not in names(NURSE)  # no MFA: PCI DSS Req 8.3


def _status(giru: RunningGiru) -> dict[str, Any]:
    response = httpx.get(giru.url("/api/v1/policy/status"), headers=ADMIN, timeout=5)
    response.raise_for_status()
    status: dict[str, Any] = response.json()
    return status


def _opa_pid(giru: RunningGiru) -> int:
    for line in giru.log.read_text().splitlines():
        if '"opa_started"' in line:
            found = line
    return int(found.split('"pid":')[1].split(",")[0])


def test_opa_killed_under_load_denies_every_call_until_it_is_back(tmp_path: Path) -> None:
    with run_giru(manifests(), tmp_path) as giru:
        outcomes: list[tuple[float, str]] = []
        refused: list[str] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                response = call(giru, PHYSICIAN, "echo", {"text": "hi"})
                body = response.json()
                if "result" in body:
                    outcomes.append((time.monotonic(), "ok"))
                else:
                    assert body["error"]["code"] == POLICY_UNAVAILABLE, body
                    assert response.status_code == 503
                    outcomes.append((time.monotonic(), "unavailable"))
                    refused.append(response.headers["giru-request-id"])

        worker = threading.Thread(target=load)
        worker.start()
        try:
            wait_until(lambda: len(outcomes) > 20, "calls flow before the kill")
            os.kill(_opa_pid(giru), signal.SIGKILL)
            killed = time.monotonic()
            wait_until(
                lambda: any(o == "unavailable" for _, o in outcomes), "a call denied while down"
            )
            wait_until(
                lambda: (
                    [o for t, o in outcomes if t > killed][-20:] == ["ok"] * 20
                    and len([1 for t, _ in outcomes if t > killed]) > 20
                ),
                "calls flowing again after OPA restarts",
                timeout=30,
            )
        finally:
            stop.set()
            worker.join()
        after = [o for t, o in outcomes if t > killed]
        assert "unavailable" in after, "no call was denied while OPA was down"
        # The one call in flight at the kill may have been decided before it and answer ok.
        down_from = after.index("unavailable")
        assert down_from <= 1, "calls succeeded after OPA was killed"
        back = after.index("ok", down_from) if "ok" in after[down_from:] else len(after)
        assert set(after[back:]) == {"ok"}, "calls flapped after OPA came back"
        assert _status(giru)["active"] is True
        wait_until(
            lambda: set(refused) <= _audited(giru, "policy_unavailable"),
            "every refused call audited as policy_unavailable",
        )


def _audited(giru: RunningGiru, outcome: str) -> set[str]:
    found: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"outcome": outcome, "limit": "500", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(giru.url("/api/v1/audit"), params=params, headers=ADMIN, timeout=5)
        page.raise_for_status()
        found |= {item["eventId"] for item in page.json()["items"]}
        cursor = page.json().get("nextCursor")
        if not cursor:
            return found


SITE_RULE = """package giru.packs.site.words

import rego.v1

# Site rule: the word "forbidden" may not be echoed.
deny contains {"control": "SITE-1", "message": "the text is forbidden"} if {
	input.mcp.arguments.text == "forbidden"
}
"""

SITE_POLICY = """
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: site}
spec:
  packs: [site]
  selector: {servers: [reg]}
"""


def test_a_policy_that_does_not_compile_leaves_the_previous_bundle_deciding(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site-policies" / "site"
    site.mkdir(parents=True)
    (site / "words.rego").write_text(SITE_RULE)
    env = {"GIRU_POLICY__DIRS": f'["{site.parent}"]'}
    with run_giru(manifests(SITE_POLICY), tmp_path, extra_env=env) as giru:
        assert controls(call(giru, PHYSICIAN, "echo", {"text": "forbidden"})) == {"SITE-1"}
        revision = _status(giru)["revision"]
        (site / "words.rego").write_text(SITE_RULE.replace("deny contains", "deny contains {"))
        wait_until(lambda: _status(giru)["lastError"] is not None, "the broken bundle reported")
        status = _status(giru)
        assert "words.rego" in status["lastError"]
        assert status["revision"] == revision
        assert status["active"] is True
        assert controls(call(giru, PHYSICIAN, "echo", {"text": "forbidden"})) == {"SITE-1"}
        assert "result" in call(giru, PHYSICIAN, "echo", {"text": "fine"}).json()


def test_rejected_credentials_and_bad_arguments_are_audited_too(giru: RunningGiru) -> None:
    body, headers = tool_call("giru_not-a-key-0123456789abcdef0123", "reg__echo", {"text": "x"}, 1)
    bad_key = httpx.post(giru.url("/mcp"), content=body, headers=headers, timeout=10)
    assert bad_key.status_code == 401
    bad_args = call(giru, PHYSICIAN, "echo", {"text": 42})
    assert bad_args.json()["error"]["code"] == -32602
    wait_until(
        lambda: bad_args.headers["giru-request-id"] in _audited(giru, "bad_request"),
        "the invalid arguments audited",
    )
    wait_until(lambda: bool(_audited(giru, "unauthenticated")), "the bad key audited")
    audit = httpx.get(
        giru.url("/api/v1/audit"), params={"outcome": "unauthenticated"}, headers=ADMIN
    ).json()
    assert audit["items"][0]["actor"] == "unauthenticated"
    assert "not-a-key" not in str(audit)  # credentials never reach the audit trail


def test_the_managed_opa_does_not_outlive_a_killed_gateway(tmp_path: Path) -> None:
    with run_giru(manifests(), tmp_path) as giru:
        opa = _opa_pid(giru)
        os.kill(giru.process.pid, signal.SIGKILL)
        giru.process.wait(timeout=10)

        def gone() -> bool:
            try:
                os.kill(opa, 0)
            except ProcessLookupError:
                return True
            return Path(f"/proc/{opa}/status").read_text().count("zombie") > 0

        wait_until(gone, "OPA exits with its gateway", timeout=10)
