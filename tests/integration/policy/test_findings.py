"""Giru's findings (giru.policy.findings) are what the Rego detectors find, and a decision given
them is the decision OPA makes detecting by itself.

Differential against a real OPA (OPA is the reference): one `opa eval` of
`data.giru.lib.pii.findings` over a corpus of every string literal of the packs' Rego tests,
constructed edge cases (card numbers with separators and trailing expiry or CVV digits, long
runs, SSN areas, E.164 and NANP phones, e-mail addresses, large integers and floats, nested
values, non-ASCII digits) and seeded random strings and numbers. Then the decisions of PCI and
GDPR calls carrying those values: with Giru's findings in the input, without them (the Rego
detects), and replayed from the audit record.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from giru.errors import PolicyUnavailableError
from giru.manifests.config import Config
from giru.manifests.loader import load
from giru.policy import Call, PolicyEngine, find_opa
from giru.policy.findings import argument_findings
from giru.policy.shapes import recorded_input, replayed_input
from tests.integration.policy.conftest import Opa

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
PII = REPO / "policies" / "lib" / "pii.rego"
RESULT = "giru/decision/result"
SEED = 15
_ARABIC = str.maketrans("0123456789", "".join(chr(0x660 + d) for d in range(10)))
_FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')

LEFT: list[Any] = [" ".join("4111111111111111") + " 1" * 250, {"a": ["1-" * 140, "1 " * 140]}]
"""Digit runs whose windows span more than 256 groups: Giru leaves them to the Rego."""

EDGES: list[Any] = [
    *LEFT,
    "4111111111111111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4111 - 1111 - 1111 - 1111",
    "4111  1111 1111 1111",
    "4111111111111111 12/27 123",
    "4111 1111 1111 1111 1227 123",
    "4111111111111111122712",
    "41111111111111111",
    "378282246310005",
    "6011 0009 9013 9424",
    "6011000990139424000",
    "8 2 4 0 2 0 0 7 0 7 7 8 9 8 6 5 8 2 3 7",
    " ".join("4111111111111111") + " 1" * 240,  # 256 groups
    {"a": ["1-" * 120, "1 " * 120]},
    "60110009901394240000",
    "1234 4111 1111 1111 1111",
    "5500-0000-0000-0004-5500-0000-0000-0004",
    "0000000000000000",
    "0000 0000 0000 0000",
    "00000000000000000000000",
    "card: 4111111111111111".translate(_FULLWIDTH),
    "4111111111111111".translate(_ARABIC),
    "123-45-6789".translate(_ARABIC),
    "room 7: " + "4111111111111111, 123-45-6789, (202) 555-0123, +442079460958".translate(_ARABIC),
    "123-45-6789",
    "ssn:123-45-6789.",
    "x123-45-6789",
    "000-45-6789",
    "666-45-6789",
    "665-45-6789",
    "667-45-6789",
    "900-45-6789",
    "999-45-6789",
    "899-45-6789",
    "123-00-6789",
    "123-45-0000",
    "123-45-6789-1",
    "1123-45-6789",
    "+1 202 555 0123",
    "+12025550123",
    "+1-202-555-0123",
    "+1.202.555.0123",
    "+0 202 555 0123",
    "a+12025550123",
    "++12025550123",
    "(+12025550123)",
    "+1234567",
    "+12345678",
    "+123456789012345",
    "+1234567890123456",
    "(202) 555-0123",
    "(202)555-0123",
    "202-555-0123",
    "202.555.0123",
    "202 555 0123",
    "1202-555-0123",
    "202-555-01234",
    "2024-01-15",
    "2025-11-26T00:00:00Z",
    "jane@example.com",
    "jane.doe+tag@mail.example.co.uk",
    "jane@localhost",
    "jane@example.c",
    "@example.com",
    "jane@-example.com",
    "jane@ex_ample.com",
    "jané@example.com",
    "jane@exämple.com",
    "a@@b.co",
    "x.@y.co",
    "a b@c.de and @f.gh",
    "a@b..co",
    "a@b.c-d.ef",
    "%@-.io",
    "@@a@b.cd",
    "mail: a@b.c1.de",
    "a@b.c" + ".d" * 300 + ".1",
    "j@e.co 4111111111111111 123-45-6789 +12025550123",
    "",
    " ",
    "@",
    "no digits at all",
    1_000_000_000_000,
    999_999_999_999,
    4_111_111_111_111_111,
    4_111_111_111_111_112,
    378_282_246_310_005,
    6_011_000_990_139_424,
    9_999_999_999_999_999_999,
    10_000_000_000_000_000_000,
    18_446_744_073_709_551_615,
    -4_111_111_111_111_111,
    1e12,
    4111111111111111.0,
    4.111111111111111e15,
    1.2345678901234568e18,
    9.999999999999999e18,
    1e19,
    1.2345678901234567e25,
    1e300,
    1500000000000.5,
    2.5,
    True,
    None,
    [],
    {},
    ["4111 1111 1111 1111", ["jane@example.com", {"deep": [[["123-45-6789"]]]}]],
    {"card": "4111 1111 1111 1111", "payer": {"contacts": ["jane@example.com", 4111111111111111]}},
    {"a.b": "123-45-6789", "a": {"b": "123-45-6789"}},
    {"": {"": "jane@example.com"}, "0": ["+12025550123"]},
    {"é": {"ключ": "4111111111111111"}, "x y": 4111111111111111.0},
]
"""Constructed cases: separators, runs with an expiry or CVV after the PAN, 19- and 20-digit
runs, all zeros, SSN areas (000, 666, 9xx), groups and serials, E.164 and NANP phones, e-mail
addresses, numbers around 10^12 and 10^19, floats, nested values and labels, and digits that
are not ASCII (RE2's `\\d` does not match them)."""


def _rego_literals() -> list[Any]:
    """Every string literal of the packs' Rego tests (their fixtures and expectations)."""
    found: set[str] = set()
    for path in (REPO / "policies").rglob("*_test.rego"):
        found.update(json.loads(text) for text in _LITERAL.findall(path.read_text()))
    return sorted(found)


def _luhn_valid(rng: random.Random, length: int) -> str:
    body = [rng.choice("0123456789") for _ in range(length - 1)]
    for check in "0123456789":
        if argument_findings("".join([*body, check])):
            return "".join([*body, check])
    raise AssertionError("one check digit makes a number Luhn-valid")


def _token(rng: random.Random) -> str:
    choice = rng.randrange(8)
    if choice == 0:
        digits = _luhn_valid(rng, rng.randint(13, 19))
        separator = rng.choice(["", " ", "-", "  ", ".", "/"])
        return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    if choice == 1:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 8)))
    if choice == 2:
        return f"{rng.randint(0, 999):03d}-{rng.randint(0, 99):02d}-{rng.randint(0, 9999):04d}"
    if choice == 3:
        return rng.choice(["+", "+1", "(", ")", "+44 ", "(202) "]) + str(rng.randint(0, 10**10))
    if choice == 4:
        return rng.choice(["a", "jane", "x.y", "_"]) + "@" + rng.choice(["ex.com", "b", "c.d.io"])
    return "".join(rng.choice("0123456789 -.@+()a_é١\n") for _ in range(rng.randint(0, 6)))


def _random_values(rng: random.Random, count: int) -> Iterator[Any]:
    for _ in range(count):
        yield "".join(_token(rng) for _ in range(rng.randint(1, 5)))
    for _ in range(count // 4):
        yield int(_luhn_valid(rng, rng.randint(13, 19)))
        yield rng.randint(10**11, 2**64 - 1)  # what orjson reads and writes
        yield rng.uniform(1e11, 1e20)
        yield float(_luhn_valid(rng, rng.randint(13, 16))) + rng.choice([0.0, 0.25, 0.5])


def corpus() -> list[Any]:
    rng = random.Random(SEED)
    values = [*_rego_literals(), *EDGES, *_random_values(rng, 400)]
    nested = [{"a": values[i], "b": [values[i + 1], {"c": values[i + 2]}]} for i in range(0, 60)]
    return [*values, *nested]


def _opa_findings(cases: list[Any]) -> list[Any]:
    """`data.giru.lib.pii.findings` of each case, by one real `opa eval`."""
    query = "[data.giru.lib.pii.findings(c) | some c in input.cases]"
    done = subprocess.run(
        [str(find_opa()), "eval", "--format=json", "--stdin-input", "-d", str(PII), query],
        input=orjson.dumps({"cases": cases}),
        capture_output=True,
        timeout=120,
        check=True,
    )
    value: list[Any] = orjson.loads(done.stdout)["result"][0]["expressions"][0]["value"]
    return value


def test_giru_s_findings_are_the_rego_detectors_findings() -> None:
    cases = corpus()
    expected = _opa_findings(cases)
    found = [argument_findings(case) for case in cases]
    differ = [
        (case, mine, wanted)
        for case, mine, wanted in zip(cases, found, expected, strict=True)
        if mine is not None and mine != wanted
    ]
    assert differ == []
    assert [case for case, mine in zip(cases, found, strict=True) if mine is None] == LEFT
    kinds = Counter(finding["kind"] for found in expected for finding in found)
    assert min(kinds[kind] for kind in ("pan", "ssn", "email", "phone")) >= 40, kinds
    assert sum(1 for found in expected if not found) >= 200


_MANIFESTS = [
    {
        "kind": "MCPServer",
        "metadata": {"name": "pay"},
        "spec": {
            "transport": "streamable-http",
            "url": "http://127.0.0.1:9/pay",
            "tools": {"charge": {"tags": ["pci"], "sensitivity": "high"}},
        },
    },
    {
        "kind": "Policy",
        "metadata": {"name": "cards"},
        "spec": {
            "packs": ["core", "pci_dss", "gdpr"],
            "data": {"gdpr": {"pii_kinds": ["email", "phone", "ssn", "pan"]}},
        },
    },
    {
        "kind": "Client",
        "metadata": {"name": "till"},
        "spec": {"apiKeyHash": f"sha256:{1:064x}", "servers": ["*"], "claims": {"mfa": True}},
    },
]


def _config(folder: Path) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n---\n".join(
        orjson.dumps({"apiVersion": "giru.ai/v1alpha1", **d}).decode() for d in _MANIFESTS
    )
    (folder / "cards.yaml").write_text(text)
    return load(folder)


def _call(arguments: dict[str, Any]) -> Call:
    return Call(
        method="tools/call",
        server="pay",
        target="charge",
        arguments=arguments,
        client="till",
        subscription=None,
        virtual_server=None,
        request_id="r-1",
        source_ip="127.0.0.1",
        tls=False,
        time_ns=1_764_115_200_000_000_000,
        protocol_version="2025-06-18",
    )


async def _decided(engine: PolicyEngine, document: dict[str, Any]) -> Any:
    assert engine.client is not None
    try:
        return await engine.client.query(RESULT, document)
    except PolicyUnavailableError:
        return "<no result>"


@pytest.fixture
async def engine(opa: Opa, tmp_path: Path) -> AsyncIterator[PolicyEngine]:
    found = opa.engine(_config(tmp_path / "manifests"), fast_path=False)
    try:
        yield found
    finally:
        assert found.client is not None
        found.client.close()


async def test_a_decision_given_giru_s_findings_is_the_one_opa_makes_detecting(
    engine: PolicyEngine,
) -> None:
    cases = [case for case in corpus() if argument_findings({"v": case})][:150]
    cases += [{"note": "lunch"}, {"amount": 12.5}]
    for case in cases:
        document = engine.input_for(_call({"v": case}))
        assert document["mcp"]["argument_findings"] == argument_findings({"v": case})
        given = await _decided(engine, document)
        mcp = {k: v for k, v in document["mcp"].items() if k != "argument_findings"}
        assert given == await _decided(engine, {**document, "mcp": mcp}), case
        assert given["allow"] is not document["mcp"]["argument_findings"], case


async def test_a_replayed_call_is_decided_on_the_findings_the_call_had(
    engine: PolicyEngine,
) -> None:
    # The audit record's shapes (the result masker's detectors) see no card number here, the
    # Rego's detectors do: the replay decides on the recorded findings, as the call was.
    arguments = {"card": "4111 1111 1111 1111 12", "note": "x"}
    document = engine.input_for(_call(arguments))
    original = await _decided(engine, document)
    assert original["allow"] is False
    recorded = recorded_input(document)
    assert "4111" not in orjson.dumps(recorded).decode()
    assert recorded["mcp"]["argument_findings"] == [{"kind": "pan", "path": "card"}]
    assert await _decided(engine, replayed_input(recorded)) == original


async def test_a_call_recorded_without_findings_is_replayed_on_its_placeholders(
    engine: PolicyEngine,
) -> None:
    document = engine.input_for(_call({"card": "4111 1111 1111 1111", "to": "j@example.com"}))
    mcp = {k: v for k, v in recorded_input(document)["mcp"].items() if k != "argument_findings"}
    replayed = replayed_input({**document, "mcp": mcp})
    placeholders = replayed["mcp"]["arguments"]
    found = {**replayed["mcp"], "argument_findings": argument_findings(placeholders)}
    decided = await _decided(engine, replayed)
    assert decided == await _decided(engine, {**replayed, "mcp": found})
    assert decided == await _decided(engine, document)


async def test_arguments_left_to_the_rego_are_still_found_there(engine: PolicyEngine) -> None:
    spaced = " ".join("4111111111111111") + " 1" * 250  # a run of 266 groups
    for arguments in ({"card": "4111 1111 1111 1111", "blob": "x" * 9000}, {"card": spaced}):
        document = engine.input_for(_call(arguments))
        assert "argument_findings" not in document["mcp"]
        decided = await _decided(engine, document)
        assert decided["allow"] is False
        assert any(r["control"] == "PCI DSS Req 3.4" for r in decided["deny"])
