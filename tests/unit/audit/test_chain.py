"""The hash chain (sans-IO): canonical bytes, linking after heads, verification by table."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from giru.audit import GENESIS, ChainedRecord, Head, Verifier, link, record_hash
from giru.audit.chain import canonical
from tests.unit.audit.data import record


def chained(count: int, node: str = "node-1") -> list[ChainedRecord]:
    made, _ = link([record(node=node) for _ in range(count)], {})
    return made


def test_the_canonical_form_is_sorted_compact_json_with_seq_and_a_z_time() -> None:
    made = record(event_id="e-1", details={"b": 1, "a": [True, None]}, reasons=["no"])
    assert canonical(made, 7) == (
        b'{"action":"tools/call","actor":"alice","at":"2026-03-14T15:09:26.535897Z",'
        b'"details":{"a":[true,null],"b":1},"event_id":"e-1","node":"node-1",'
        b'"outcome":"allowed","policy_revision":"rev-1","reasons":["no"],"seq":7,'
        b'"server":"kit","source_ip":"127.0.0.1","target":"echo"}'
    )


def test_a_time_without_microseconds_still_has_six_digits() -> None:
    made = record(event_id="e-1")
    made["at"] = made["at"].replace(microsecond=0)
    assert b'"at":"2026-03-14T15:09:26.000000Z"' in canonical(made, 1)


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_form() -> None:
    made = record()
    expected = hashlib.sha256(GENESIS.encode() + canonical(made, 1)).hexdigest()
    assert record_hash(GENESIS, made, 1) == expected
    assert record_hash("f" * 64, made, 1) != expected
    assert record_hash(GENESIS, made, 2) != expected


def test_link_numbers_from_one_and_links_each_record_to_the_previous() -> None:
    made = chained(3)
    assert [r["seq"] for r in made] == [1, 2, 3]
    assert made[0]["prev_hash"] == GENESIS
    assert made[1]["prev_hash"] == made[0]["hash"]
    assert made[2]["prev_hash"] == made[1]["hash"]
    assert made[2]["hash"] == record_hash(made[1]["hash"], made[2], 3)


def test_link_continues_after_each_nodes_head_and_returns_the_new_heads() -> None:
    records = [record(node="a"), record(node="b"), record(node="a")]
    made, heads = link(records, {"a": Head(41, "1" * 64)})
    assert [(r["node"], r["seq"]) for r in made] == [("a", 42), ("b", 1), ("a", 43)]
    assert made[0]["prev_hash"] == "1" * 64
    assert made[1]["prev_hash"] == GENESIS
    assert heads == {"a": Head(43, made[2]["hash"]), "b": Head(1, made[1]["hash"])}


def test_link_leaves_out_a_repeated_event_id() -> None:
    first = record()
    made, heads = link([first, dict(first), record()], {})  # type: ignore[list-item]
    assert [r["seq"] for r in made] == [1, 2]
    assert heads["node-1"].seq == 2


def test_an_intact_chain_verifies_and_reports_its_heads() -> None:
    verifier = Verifier()
    a, b = chained(5, "a"), chained(2, "b")
    verifier.feed_all([*a, *b])
    result = verifier.result()
    assert result.ok
    assert (result.records, result.nodes) == (7, 2)
    assert result.heads == {"a": Head(5, a[-1]["hash"]), "b": Head(2, b[-1]["hash"])}


def edited(records: list[ChainedRecord], index: int, **fields: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [dict(r) for r in records]
    out[index].update(fields)
    return out


def rehashed(records: list[ChainedRecord], index: int, **fields: Any) -> list[dict[str, Any]]:
    """An edit that also recomputes the edited record's own hash."""
    out = edited(records, index, **fields)
    out[index]["hash"] = record_hash(out[index]["prev_hash"], out[index], out[index]["seq"])
    return out


@pytest.mark.parametrize(
    ("tamper", "seq", "kind", "message"),
    [
        (
            lambda r: edited(r, 2, outcome="policy_denied"),
            3,
            "altered",
            "hash mismatch (record altered)",
        ),
        (lambda r: edited(r, 2, details={}), 3, "altered", "hash mismatch (record altered)"),
        (lambda r: edited(r, 2, details=[1]), 3, "altered", "hash mismatch (record altered)"),
        (
            lambda r: rehashed(r, 2, actor="mallory"),
            4,
            "broken_link",
            "broken link: prev_hash is not the hash of seq 3",
        ),
        (
            lambda r: edited(r, 0, prev_hash="1" * 64),
            1,
            "broken_link",
            "broken link: prev_hash is not the genesis hash",
        ),
        (lambda r: r[:2] + r[3:], 4, "gap", "gap: seq 3 missing between seq 2"),
        (lambda r: r[:1] + r[4:], 5, "gap", "gap: seq 2..4 missing between seq 1"),
        (lambda r: r[2:], 3, "gap", "gap: seq 1..2 missing before seq 3"),
        (lambda r: [r[0], r[1], r[1], *r[2:]], 2, "gap", "out of order: seq 2 after seq 2"),
    ],
)
def test_the_first_bad_record_is_named(tamper: Any, seq: int, kind: str, message: str) -> None:
    records = chained(6)
    verifier = Verifier()
    verifier.feed_all(tamper(records))
    result = verifier.result()
    [problem] = result.problems
    assert (problem.node, problem.seq, problem.kind) == ("node-1", seq, kind)
    assert problem.event_id == records[seq - 1]["event_id"]
    assert problem.message.startswith(message)


def test_a_gap_message_names_the_records_around_it() -> None:
    records = chained(3)
    verifier = Verifier()
    verifier.feed_all([records[0], records[2]])
    [problem] = verifier.result().problems
    assert problem.message == (
        f"gap: seq 2 missing between seq 1 (event {records[0]['event_id']}) "
        f"and seq 3 (event {records[2]['event_id']})"
    )


def test_each_broken_chain_is_reported_once_and_the_others_still_checked() -> None:
    a, b = chained(4, "a"), chained(3, "b")
    tampered = edited(a, 1, actor="x")
    tampered[2]["actor"] = "y"
    verifier = Verifier()
    verifier.feed_all([*tampered, *edited(b, 2, outcome="error")])
    result = verifier.result()
    assert [(p.node, p.seq) for p in result.problems] == [("a", 2), ("b", 3)]
    assert (result.records, result.nodes) == (7, 2)
    assert not result.ok
