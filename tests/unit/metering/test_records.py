"""Usage records: UUIDv7 event ids and the spool's JSON form."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from giru.metering import new_event_id
from giru.metering.records import _UUIDv7, decode_record, encode_record
from tests.unit.metering.data import AT, record


def test_event_ids_are_uuidv7_with_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    text = new_event_id()
    after = time.time_ns() // 1_000_000
    made = uuid.UUID(text)
    assert text == str(made)  # lower-case, hyphenated
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_event_ids_increase_in_the_order_they_are_made() -> None:
    made = [new_event_id() for _ in range(20_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_event_ids_keep_increasing_when_the_clock_steps_back() -> None:
    generate = _UUIDv7()
    first = generate()
    generate._ms += 60_000  # as if the previous id came from a clock a minute ahead
    ahead = generate()
    assert first < ahead < generate() < generate()


def test_an_exhausted_millisecond_borrows_the_next_one() -> None:
    generate = _UUIDv7()
    generate._ms = time.time_ns() // 1_000_000 + 60_000
    generate._counter = (1 << 74) - 1
    last = generate._ms
    made = uuid.UUID(generate())
    assert made.int >> 80 == last + 1
    assert made.version == 7


def test_a_record_survives_its_json_form() -> None:
    original = record(cost=0.25, status=-31429, outcome="rate_limited", request_id=None)
    decoded = decode_record(encode_record(original))
    assert decoded == original
    assert decoded["at"] == AT
    assert decoded["at"].utcoffset() is not None


def test_a_record_spooled_before_person_and_agent_existed_reads_them_as_none() -> None:
    original = record(person="alice@hospital.example", agent="cursor")
    assert decode_record(encode_record(original)) == original
    older = {k: v for k, v in original.items() if k not in ("person", "agent")}
    assert decode_record(orjson.dumps(older)) == {**original, "person": None, "agent": None}


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        orjson.dumps({"event_id": "x"}),
        orjson.dumps({**record(), "extra": 1}),
        orjson.dumps({**record(), "at": 1}),
        orjson.dumps({**record(), "at": "2026-03-14T15:09:26"}),  # no UTC offset
        orjson.dumps({**record(), "at": "yesterday"}),
    ],
)
def test_anything_but_a_record_is_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- every refusal is a plain ValueError
        decode_record(payload)
