"""The audit record codec: what goes into the spool comes out storable and unchanged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from giru.audit.records import Entry, decode_entry, decode_record, encode_entry, encode_record
from tests.unit.audit.data import AT, record
from tests.unit.metering.data import record as usage_record


def test_a_record_comes_back_as_it_went_in() -> None:
    made = record(reasons=["denied: PCI DSS Req 3.4"], server=None, target=None)
    assert decode_record(encode_record(made)) == made


def test_times_come_back_in_utc_and_a_naive_time_counts_as_utc() -> None:
    local = AT.astimezone(timezone(timedelta(hours=2)))
    assert decode_record(encode_record(record(at=local)))["at"] == AT
    naive = AT.replace(tzinfo=None)
    back = decode_record(encode_record(record(at=naive)))["at"]
    assert back == AT
    assert back.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("details", "stored"),
    [
        ({"a\x00b": "x\x00y"}, {"a\ufffdb": "x\ufffdy"}),
        ({"text": "lone \ud800 surrogate"}, {"text": "lone ? surrogate"}),
        ({"ratio": float("nan")}, {"ratio": None}),
        ({1: "one"}, {"1": "one"}),
        ({"big": 1 << 70}, {"big": str(1 << 70)}),
        ({"when": AT}, {"when": "2026-03-14T15:09:26.535897+00:00"}),
    ],
)
def test_details_become_storable_json(details: dict[Any, Any], stored: dict[str, Any]) -> None:
    assert decode_record(encode_record(record(details=details)))["details"] == stored


def test_nul_characters_in_text_fields_are_replaced() -> None:
    back = decode_record(encode_record(record(actor="al\x00ice", reasons=["a\x00"])))
    assert (back["actor"], back["reasons"]) == ("al\ufffdice", ["a\ufffd"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("actor", None, "'actor' must be a string"),
        ("server", 7, "'server' must be a string or None"),
        ("at", "2026-01-01", "'at' must be a datetime"),
        ("reasons", "denied", "'reasons' must be a list of strings"),
        ("reasons", [1], "'reasons' must be a list of strings"),
        ("details", [], "'details' must be a dict"),
    ],
)
def test_a_malformed_record_is_refused(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_record(record(**{field: value}))


def test_a_record_with_missing_or_extra_fields_is_refused() -> None:
    made: Any = record()
    del made["details"]
    made["extra"] = 1
    with pytest.raises(ValueError, match=r"missing \['details'\], extra \['extra'\]"):
        encode_record(made)


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        orjson.dumps({"event_id": "x"}),
        orjson.dumps({**record(), "at": 5}),
        orjson.dumps({**record(), "at": "2026-03-14T15:09:26"}),
    ],
)
def test_decoding_refuses_what_is_not_an_audit_record(payload: bytes) -> None:
    with pytest.raises(ValueError, match="audit record"):
        decode_record(payload)


def test_a_time_before_1900_survives_too() -> None:
    old = datetime(1899, 12, 31, 23, 59, 59, tzinfo=AT.tzinfo)
    assert decode_record(encode_record(record(at=old)))["at"] == old


def test_a_call_entry_holds_its_usage_record_in_the_same_frame() -> None:
    made, usage = record(), usage_record(person="ada@example.com")
    payload = encode_entry(Entry(made, usage))
    assert orjson.loads(payload)["usage"]["person"] == "ada@example.com"  # one JSON object
    assert decode_entry(payload) == Entry(made, usage)


def test_a_plain_audit_record_reads_as_an_entry_without_usage_and_back() -> None:
    made = record()
    assert encode_entry(Entry(made)) == encode_record(made)  # spools of earlier versions
    assert decode_entry(encode_record(made)) == Entry(made, None)


def test_an_entry_whose_usage_record_is_malformed_is_refused() -> None:
    payload = orjson.loads(encode_entry(Entry(record(), usage_record())))
    del payload["usage"]["tool"]
    with pytest.raises(ValueError, match="not a usage record"):
        decode_entry(orjson.dumps(payload))


def test_a_usage_record_in_an_entry_is_made_storable_like_the_audit_record() -> None:
    usage = usage_record(person="ada\x00@example.com", tool="echo\ud800")
    entry = decode_entry(encode_entry(Entry(record(), usage)))
    assert entry.usage is not None
    assert entry.usage["person"] == "ada\ufffd@example.com"  # PostgreSQL text holds no NUL
    assert entry.usage["tool"] == "echo?"  # a lone surrogate is not UTF-8
