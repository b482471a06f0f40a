"""W3C trace context from a client: strict, bounded, never an error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from giru.telemetry.traceparent import format_traceparent, remote_context

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{SPAN}-01"
OTHER = f"00-{'a' * 32}-{'b' * 16}-00"


def test_a_valid_traceparent_is_continued_with_its_ids_and_sampled_flag() -> None:
    parent = remote_context(VALID, "vendor=abc", None)
    assert parent is not None
    context = parent
    assert (f"{context.trace_id:032x}", f"{context.span_id:016x}") == (TRACE, SPAN)
    assert context.trace_flags.sampled
    assert context.is_remote
    assert dict(context.trace_state) == {"vendor": "abc"}
    assert format_traceparent(context) == VALID


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        VALID.upper(),
        f"ff-{TRACE}-{SPAN}-01",
        f"00-{'0' * 32}-{SPAN}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"00-{TRACE}-{SPAN}-01-extra",
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"01-{TRACE}-{SPAN}-01-" + "x" * 300,
        VALID + "\n",
        42,
        {"traceparent": VALID},
        None,
    ],
)
def test_a_malformed_or_oversized_traceparent_is_ignored(value: object) -> None:
    assert remote_context(value, None, {"traceparent": value}) is None  # type: ignore[arg-type]


def test_a_later_version_with_more_fields_is_read_for_its_first_four() -> None:
    parent = remote_context(f"01-{TRACE}-{SPAN}-01-future", None, None)
    assert parent is not None
    assert f"{parent.trace_id:032x}" == TRACE


def test_meta_is_preferred_to_a_header_naming_another_trace() -> None:
    parent = remote_context(OTHER, None, {"traceparent": VALID})
    assert parent is not None
    assert f"{parent.trace_id:032x}" == TRACE


def test_a_header_continuing_the_same_trace_is_the_nearer_parent() -> None:
    hop = f"00-{TRACE}-{'c' * 16}-01"
    parent = remote_context(hop, None, {"traceparent": VALID})
    assert parent is not None
    assert f"{parent.span_id:016x}" == "c" * 16


def test_an_invalid_meta_falls_back_to_the_header() -> None:
    parent = remote_context(VALID, None, {"traceparent": "nope"})
    assert parent is not None
    assert f"{parent.span_id:016x}" == SPAN


def test_an_oversized_tracestate_is_dropped_and_the_traceparent_kept() -> None:
    parent = remote_context(VALID, "k=" + "v" * 600, None)
    assert parent is not None
    assert len(parent.trace_state) == 0


@given(st.text(max_size=400), st.text(max_size=700), st.dictionaries(st.text(), st.text()))
def test_no_input_raises(traceparent: str, tracestate: str, meta: dict[str, str]) -> None:
    remote_context(traceparent, tracestate, meta)
