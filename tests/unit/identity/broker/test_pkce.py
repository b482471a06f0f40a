from __future__ import annotations

import pytest

from giru.identity.broker.errors import OAuthError
from giru.identity.broker.pkce import challenge_of, check_challenge, verifier_matches

# computed apart, by Node: crypto.createHash("sha256").update(VERIFIER).digest("base64url")
VERIFIER = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"


def test_the_s256_challenge_is_base64url_sha256_without_padding() -> None:
    assert challenge_of(VERIFIER) == CHALLENGE


def test_the_matching_verifier_is_accepted() -> None:
    assert verifier_matches(VERIFIER, CHALLENGE)


@pytest.mark.parametrize(
    "verifier", [None, "", "short", VERIFIER[:-1] + "l", VERIFIER + " ", "a" * 129, "é" * 43]
)
def test_other_verifiers_are_refused(verifier: str | None) -> None:
    assert not verifier_matches(verifier, CHALLENGE)


@pytest.mark.parametrize(
    ("challenge", "method"),
    [
        (None, "S256"),
        ("", "S256"),
        (CHALLENGE, "plain"),
        (CHALLENGE, None),
        ("x" * 43 + "=", "S256"),
    ],
)
def test_a_challenge_that_is_not_s256_is_an_invalid_request(
    challenge: str | None, method: str | None
) -> None:
    with pytest.raises(OAuthError) as raised:
        check_challenge(challenge, method)
    assert raised.value.error == "invalid_request"


def test_an_s256_challenge_is_kept() -> None:
    assert check_challenge(CHALLENGE, "S256") == CHALLENGE
