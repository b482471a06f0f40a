"""The host builtins of the in-process evaluator give what OPA's (Go's) give; what they cannot
reproduce fails the decision closed instead of answering differently."""

from __future__ import annotations

from typing import Any

import pytest

from giru.policy.wasm_builtins import (
    BUILTINS,
    BuiltinError,
    RegoSet,
    UnsupportedBuiltinError,
    go_sprintf,
    parse_rego,
)


@pytest.mark.parametrize(
    ("pattern", "values", "expected"),
    [
        ("%s/%s", ["pay", "charge"], "pay/charge"),
        ("%v days", [90], "90 days"),
        ("%d bytes", [1048577], "1048577 bytes"),
        ("%d", [4111111111111111.0], "4111111111111111"),
        ("%v", [12.5], "12.5"),
        ("%v", [10.0], "10"),
        ("%v", [1e-05], "1e-05"),
        ("%v", [1e21], "1e+21"),
        ("%v", [123456789012345678.0], "1.2345678901234568e+17"),
        ("%v", [100000000.0], "1e+08"),
        ("%v", [123456.5], "123456.5"),
        ("%v", [1234567.5], "1.2345675e+06"),
        ("%v", [100000.0], "100000"),
        ("%v", [0.0001], "0.0001"),
        ("%v", [0.00001234], "1.234e-05"),
        ("%v:00", [True], "true:00"),
        ("%v", [None], "null"),
        ("100%%", [], "100%"),
        ("%s", [7], "7"),
        ("%s", [["nurse", 3]], '["nurse", 3]'),
        ("%v", [{"z": 1, "a": [2]}], '{"a": [2], "z": 1}'),
        ("%s", [RegoSet(["b", "a", 1])], '{1, "a", "b"}'),
        ("%v", [RegoSet()], "set()"),
        ("%s", [[None, True, 'q"x\n']], '[null, true, "q\\"x\\n"]'),
    ],
)
def test_sprintf_formats_as_opa_does(pattern: str, values: list[Any], expected: str) -> None:
    assert go_sprintf(pattern, values) == expected


@pytest.mark.parametrize(
    ("pattern", "values"),
    [("%x", [255]), ("%d", [["a"]]), ("%s %s", ["a"]), ("%s", ["a", None]), ("%d", ["a"])],
)
def test_sprintf_beyond_what_is_reproduced_fails_closed(pattern: str, values: list[Any]) -> None:
    with pytest.raises(UnsupportedBuiltinError):
        go_sprintf(pattern, values)


@pytest.mark.parametrize(
    ("pattern", "value", "number", "expected"),
    [
        (r"\d(?:[ -]?\d){12,}", "card 4111 1111 1111 1111 exp", -1, ["4111 1111 1111 1111"]),
        ("..?", "12345", -1, ["12", "34", "5"]),
        ("[0-9]", "a1b2c3", 2, ["1", "2"]),
        (r"\d", "٣ is not an ASCII digit", -1, []),
        ("a*", "baaab", -1, ["", "aaa", ""]),
    ],
)
def test_regex_find_n_is_go_s_find_all(
    pattern: str, value: str, number: int, expected: list[str]
) -> None:
    assert BUILTINS["regex.find_n"](pattern, value, number) == expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("[ -]", "4111 1111-1111", ["4111", "1111", "1111"]),
        ("[ -]", "", [""]),
        ("[ -]", " a ", ["", "a", ""]),
        ("x*", "abc", ["a", "b", "c"]),
    ],
)
def test_regex_split_is_go_s_split(pattern: str, value: str, expected: list[str]) -> None:
    assert BUILTINS["regex.split"](pattern, value) == expected


def test_a_bad_regex_is_undefined() -> None:
    with pytest.raises(BuiltinError):
        BUILTINS["regex.find_n"]("(", "x", -1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-01T00:00:00Z", 1_761_955_200_000_000_000),
        ("2025-11-01T01:30:00+01:30", 1_761_955_200_000_000_000),
        ("2025-11-01T00:00:00.123456789Z", 1_761_955_200_123_456_789),
        ("2025-11-01T00:00:00.5-00:00", 1_761_955_200_500_000_000),
    ],
)
def test_parse_rfc3339_ns(text: str, expected: int) -> None:
    assert BUILTINS["time.parse_rfc3339_ns"](text) == expected


@pytest.mark.parametrize(
    "text",
    ["2025-11-01", "2025-02-30T00:00:00Z", "2025-11-01 00:00:00Z", "2025-11-01T24:00:00Z", 7],
)
def test_an_invalid_rfc3339_time_is_undefined(text: Any) -> None:
    with pytest.raises(BuiltinError):
        BUILTINS["time.parse_rfc3339_ns"](text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_764_126_000_000_000_001, [3, 0, 0]),
        ([1_764_126_000_000_000_001, "UTC"], [3, 0, 0]),
        ([1_764_126_000_000_000_001, "America/New_York"], [22, 0, 0]),
        ([1_764_126_000_000_000_001, ""], [3, 0, 0]),
        (-1, [23, 59, 59]),
    ],
)
def test_time_clock(value: Any, expected: list[int]) -> None:
    assert BUILTINS["time.clock"](value) == expected


@pytest.mark.parametrize("value", [[0, "Mars/Olympus"], "noon", [1.5, "UTC"], [True, "UTC"]])
def test_time_clock_of_a_bad_operand_is_undefined(value: Any) -> None:
    with pytest.raises(BuiltinError):
        BUILTINS["time.clock"](value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[["nurse", 3], {"z": 1}, {"b", "a"}, set(), null]',
            [["nurse", 3], {"z": 1}, ("b", "a"), (), None],
        ),
        ("{}", {}),
        ("[]", []),
        ('{{"a"}: 1.5}', {("a",): 1.5}),
        (r'"caf\u00e9 \"x\""', 'café "x"'),
    ],
)
def test_rego_text_is_read_with_sets_kept(text: str, expected: Any) -> None:
    parsed = parse_rego(text)
    assert parsed == expected
    if isinstance(expected, list) and len(expected) > 2:
        assert isinstance(parsed[2], RegoSet)


@pytest.mark.parametrize("text", ["[1,", "{1: }", "x", "[1] 2", "{1, 2: 3}"])
def test_rego_text_in_an_unknown_form_fails_closed(text: str) -> None:
    with pytest.raises(UnsupportedBuiltinError):
        parse_rego(text)
