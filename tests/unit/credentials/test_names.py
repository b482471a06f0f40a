"""Secret names and entries: what is accepted, and the size cap."""

from __future__ import annotations

import pytest

from giru.credentials.names import SecretTooLargeError, check_entries, check_name
from giru.errors import ValidationError


@pytest.mark.parametrize("name", ["github-token", "a", "gh.oauth_2", "x" * 100])
def test_names_of_letters_digits_and_punctuation_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "../etc/passwd", "a/b", "a..b", "..", "-a", "a-", "Upper", "x" * 101, "a b", "ä", "a%2f"],
)
def test_names_that_could_climb_a_path_or_break_a_url_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="invalid secret name"):
        check_name(name)


def test_entries_are_encoded_canonically() -> None:
    assert check_entries({"b": "2", "a": "1"}, 1024) == b'{"a":"1","b":"2"}'


@pytest.mark.parametrize(
    ("entries", "field"),
    [({}, "data"), ({"../x": "v"}, "data.../x"), ({"..": "v"}, "data..."), ({"k": 1}, "data.k")],
)
def test_bad_entries_name_their_field(entries: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        check_entries(entries, 1024)  # type: ignore[arg-type]
    assert raised.value.data["errors"][0]["field"] == field


def test_a_secret_over_the_cap_is_refused_with_its_size() -> None:
    with pytest.raises(SecretTooLargeError, match="at most 1024"):
        check_entries({"value": "x" * 2000}, 1024)


def test_more_than_32_entries_are_refused() -> None:
    with pytest.raises(ValidationError, match="at most 32"):
        check_entries({f"k{i}": "v" for i in range(33)}, 1 << 20)
