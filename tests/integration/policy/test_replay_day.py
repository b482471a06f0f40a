"""Policy replay over a recorded day of the quickstart's traffic: the 1,200 calls of
tests/fixtures/traffic/quickstart-day.jsonl (made by quickstart_day.py there, a fixed seed) are
played through a real `giru run` on examples/quickstart/ (its four upstreams, real OPA) with
the compliance packs a deployment would bind: PCI DSS on the `everything` servers, whose `echo`
handles cardholder data, and GDPR on `memory`. Then `giru policy replay --bundle DIR --since 1d`
with a modified bundle — `core.no_ssn` denies any SSN, GDPR no longer counts phone numbers,
`memory/delete_entities` needs a person's approval — must report exactly the changes those
three edits make to the recorded calls, counted here from the recording by the same rules,
not from a run."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from giru.cli.main import app
from tests.e2e.calls import tool_call
from tests.fixtures.traffic.quickstart_day import generate
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

# a day of calls through Giru, its audit drained, and two replays of it, on a loaded machine
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO: Final = Path(__file__).resolve().parents[3]
QUICKSTART: Final = REPO / "examples" / "quickstart"
RECORDING: Final = REPO / "tests" / "fixtures" / "traffic" / "quickstart-day.jsonl"
_ADMIN: Final = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
_KEYS: Final = {
    "demo": "giru-replay-demo-key-0123456789",
    "support": "giru-replay-support-key-0123456789",
    "reports": "giru-replay-reports-key-0123456789",
}
_LAWFUL: Final = frozenset({"support"})
"""The clients with a lawful-basis claim (GDPR Art. 6 lets them send personal data)."""

_GOVERNANCE: Final = """
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: support}
spec:
  apiKeyEnv: GIRU_SUPPORT_KEY
  servers: ["*"]
  claims: {lawful_basis: contract}
---
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: reports}
spec:
  apiKeyEnv: GIRU_REPORTS_KEY
  servers: ["*"]
---
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: cards}
spec:
  packs: [pci_dss]
  selector: {servers: [everything, everything-sse]}
  data: {pci_dss: {require_mfa: false}}  # API-key clients: no second factor to show
---
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: personal-data}
spec:
  packs: [gdpr]
  selector: {servers: [memory]}
"""
_ECHO_HANDLES_CARDS: Final = "  tools:\n    echo: {tags: [pci]}\n"
_NO_SSN: Final = """package giru.packs.core.no_ssn

import data.giru.lib.pii

# A social security number in any argument is refused (what the candidate adds).
deny contains {"control": "core.no_ssn", "message": "A social security number in an argument"} if {
	some finding in pii.argument_findings
	finding.kind == "ssn"
}
"""


def _quickstart(conformance: int, everything: int, memory_file: Path) -> str:
    """examples/quickstart/ as one document stream: its HTTP upstreams on free ports, the
    memory server's file in the test's directory, `echo` of both `everything` servers tagged
    pci; then the two more clients and the two policies."""
    documents = []
    for path in sorted(QUICKSTART.glob("*.yaml")):
        for document in path.read_text().split("\n---\n"):
            named = "name: everything\n" in document or "name: everything-sse\n" in document
            if named and "kind: MCPServer" in document:
                document = document.rstrip("\n") + "\n" + _ECHO_HANDLES_CARDS
            documents.append(document)
    text = "\n---\n".join([*documents, _GOVERNANCE])
    entry = "server-memory/dist/index.js\n"
    assert text.count(entry) == 1
    text = text.replace(entry, f'{entry}  env: {{MEMORY_FILE_PATH: "{memory_file}"}}\n')
    return text.replace("127.0.0.1:3001", f"127.0.0.1:{conformance}").replace(
        "127.0.0.1:3002", f"127.0.0.1:{everything}"
    )


def _recording() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in RECORDING.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGiru]:
    require_tools(TOOLS.node, TOOLS.go_fixture)
    root = tmp_path_factory.mktemp("replay-day")
    conformance, everything = free_port(), free_port()
    peers = [
        start_peer(
            "conformance", go_fixture_argv(f"127.0.0.1:{conformance}", stateless=False), root
        ),
        start_peer(
            "everything-sse", everything_argv("sse"), root, node_env({"PORT": str(everything)})
        ),
    ]
    env = {
        "GIRU_DEMO_KEY": _KEYS["demo"],
        "GIRU_SUPPORT_KEY": _KEYS["support"],
        "GIRU_REPORTS_KEY": _KEYS["reports"],
        # on a loaded machine OPA sometimes takes longer than the 250 ms default, and a call it
        # did not decide in time is refused: a recording whose outcomes are not policy's
        "GIRU_POLICY__TIMEOUT_MS": "10000",
    }
    try:
        for peer, port in zip(peers, (conformance, everything), strict=True):
            wait_for_port(peer, port)
        manifests = _quickstart(conformance, everything, root / "memory.jsonl")
        with run_giru(manifests, root, extra_env=env, ready_timeout=180) as running:
            yield running
    finally:
        for peer in peers:
            peer.stop()


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped packs, modified three ways: core.no_ssn denies an SSN in any argument;
    GDPR's personal data kinds lose `phone`; core.approval_tools holds memory/delete_entities."""
    bundle = tmp_path_factory.mktemp("candidate")
    shutil.copytree(REPO / "policies", bundle, dirs_exist_ok=True)
    (bundle / "core" / "no_ssn.rego").write_text(_NO_SSN)
    core = bundle / "core" / "data.json"
    data = orjson.loads(core.read_bytes())
    data["core"]["approval_tools"] = ["memory/delete_entities"]
    core.write_bytes(orjson.dumps(data))
    gdpr = bundle / "gdpr" / "data.json"
    data = orjson.loads(gdpr.read_bytes())
    assert data["gdpr"]["pii_kinds"] == ["email", "phone", "ssn"]
    data["gdpr"]["pii_kinds"] = ["email", "ssn"]
    gdpr.write_bytes(orjson.dumps(data))
    return bundle


# --- the rules, applied to the recording -------------------------------------------------------

Control = tuple[str, str]
_PCI: Final = ("pci_dss", "PCI DSS Req 3.4")
_GDPR: Final = ("gdpr", "GDPR Art. 6")
_NO_SSN_CONTROL: Final = ("core", "core.no_ssn")
_HELD: Final = ("core", "core.approval_tools")


def _denies(call: Mapping[str, Any], *, candidate: bool) -> set[Control]:
    """What denies `call` in the deployment above, or with the candidate bundle."""
    kinds = set(call["planted"])
    found = set()
    cards = call["server"] in ("everything", "everything-sse") and call["tool"] == "echo"
    if cards and "pan" in kinds:
        found.add(_PCI)
    personal = {"email", "ssn"} if candidate else {"email", "phone", "ssn"}
    if call["server"] == "memory" and kinds & personal and call["client"] not in _LAWFUL:
        found.add(_GDPR)
    if candidate and "ssn" in kinds:
        found.add(_NO_SSN_CONTROL)
    return found


def _holds(call: Mapping[str, Any], *, candidate: bool) -> set[Control]:
    held = candidate and (call["server"], call["tool"]) == ("memory", "delete_entities")
    return {_HELD} if held else set()


def _expected(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The report's counts: a change is newly denied (by the candidate's denials), else newly
    allowed (by the denials it lifts), else newly held (by the holds it adds)."""
    totals: Counter[str] = Counter()
    controls: dict[Control, Counter[str]] = {}
    for call in calls:
        old, new = _denies(call, candidate=False), _denies(call, candidate=True)
        held = _holds(call, candidate=True) - _holds(call, candidate=False)
        if not old and new:
            change, by = "newlyDenied", new
        elif old and not new:
            change, by = "newlyAllowed", old
        elif not new and held:
            change, by = "newlyHeld", held
        else:
            continue
        totals[change] += 1
        for control in by:
            controls.setdefault(control, Counter())[change] += 1
    names = ("newlyDenied", "newlyAllowed", "newlyHeld")
    return {
        **{name: totals[name] for name in names},
        "controls": [
            {
                "pack": pack,
                "control": control,
                **{name: controls[pack, control][name] for name in names},
            }
            for pack, control in sorted(controls)
        ],
    }


# --- playing the day ------------------------------------------------------------------------------


async def _play(giru: RunningGiru, calls: Sequence[Mapping[str, Any]]) -> Counter[int]:
    """Every call, in the day's order (its hours compressed), eight at a time, as 2026-07-28
    requests on /mcp: the HTTP statuses they got."""
    statuses: Counter[int] = Counter()
    lanes = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=giru.base, timeout=60) as http:

        async def one(number: int, call: Mapping[str, Any]) -> None:
            name = f"{call['server']}__{call['tool']}"
            body, headers = tool_call(_KEYS[call["client"]], name, dict(call["arguments"]), number)
            async with lanes:
                answer = await http.post("/mcp", content=body, headers=headers)
            statuses[answer.status_code] += 1

        async with asyncio.TaskGroup() as tasks:
            for number, call in enumerate(calls, start=1):
                tasks.create_task(one(number, call))
    return statuses


async def _calls_recorded(api: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The `tools/call` audit records, once all `count` have drained into the store."""
    async with asyncio.timeout(120):
        while True:
            items: list[dict[str, Any]] = []
            params: dict[str, str | int] = {"action": "tools/call", "limit": 500}
            while True:
                found = (await api.get("/api/v1/audit", params=params)).json()
                items += found["items"]
                if found.get("nextCursor") is None:
                    break
                params["cursor"] = found["nextCursor"]
            if len(items) >= count:
                return items
            await asyncio.sleep(0.25)  # the audit spool drains on its own schedule


def _findings(shape: Mapping[str, Any], into: set[str]) -> set[str]:
    into.update(shape.get("findings") or ())
    for inner in (shape.get("keys") or {}).values():
        _findings(inner, into)
    for inner in shape.get("items") or ():
        _findings(inner, into)
    return into


def test_the_recording_is_what_its_script_makes() -> None:
    assert _recording() == generate()


async def test_a_modified_pack_replayed_over_a_day_reports_exactly_the_expected_changes(
    giru: RunningGiru, candidate: Path
) -> None:
    calls = _recording()
    started = time.monotonic()
    statuses = await _play(giru, calls)
    print(f"played {len(calls)} calls: {time.monotonic() - started:.1f} s")
    baseline = [_denies(call, candidate=False) for call in calls]
    assert statuses == {200: sum(not d for d in baseline), 403: sum(bool(d) for d in baseline)}
    async with httpx.AsyncClient(base_url=giru.base, headers=_ADMIN, timeout=60) as api:
        records = await _calls_recorded(api, len(calls))
        print(f"recorded: {time.monotonic() - started:.1f} s")
        status = (await api.get("/api/v1/policy/status")).json()
        cli = CliRunner(
            env={
                "GIRU_API_URL": giru.base,
                "GIRU_TOKEN": ADMIN_TOKEN,
                "XDG_CONFIG_HOME": str(candidate),
            }
        )
        argv = ["policy", "replay", "--bundle", str(candidate), "--since", "1d", "-o", "json"]
        started = time.monotonic()
        replayed = await asyncio.to_thread(cli.invoke, app, argv)
        took = time.monotonic() - started
        after = (await api.get("/api/v1/policy/status")).json()
    assert replayed.exit_code == 0, replayed.output
    print(f"giru policy replay over {len(calls)} calls: {took:.1f} s")
    # what Giru recorded is what was played: per caller and tool, the kinds found and denials
    assert len(records) == len(calls)
    assert Counter(
        (
            r["actor"],
            r["server"],
            r["target"],
            tuple(sorted(_findings(r["details"]["input"]["mcp"]["argument_shapes"], set()))),
            r["outcome"] == "policy_denied",
        )
        for r in records
    ) == Counter(
        (c["client"], c["server"], c["tool"], tuple(c["planted"]), bool(d))
        for c, d in zip(calls, baseline, strict=True)
    )
    report = orjson.loads(replayed.output)
    assert (report["calls"], report["replayed"], report["skipped"]) == (len(calls), len(calls), 0)
    assert report["unreproduced"] == 0
    expected = _expected(calls)
    assert all(expected[name] > 0 for name in ("newlyDenied", "newlyAllowed", "newlyHeld"))
    assert {k: report[k] for k in expected} == expected
    assert after["revision"] == status["revision"]  # production's bundle is untouched
