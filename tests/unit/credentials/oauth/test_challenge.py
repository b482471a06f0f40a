from __future__ import annotations

import pytest

from giru.credentials.oauth import BearerChallenge, parse_challenge


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ('Basic realm="x"', None),
        ("Bearer", BearerChallenge()),
        (
            'Bearer resource_metadata="https://r/.well-known/oauth-protected-resource", '
            'scope="a b"',
            BearerChallenge("https://r/.well-known/oauth-protected-resource", ("a", "b")),
        ),
        (
            'Basic realm="x", Bearer error="insufficient_scope", scope="mcp:write"',
            BearerChallenge(scope=("mcp:write",), error="insufficient_scope"),
        ),
        (
            'bearer Error="invalid_token", error_description="a \\"quoted\\", comma"',
            BearerChallenge(error="invalid_token", error_description='a "quoted", comma'),
        ),
        ("Bearer scope=mcp", BearerChallenge(scope=("mcp",))),
        ('Bearer realm="r", DPoP algs="ES256"', BearerChallenge()),
    ],
)
def test_bearer_challenges_are_read_from_www_authenticate(
    header: str | None, expected: BearerChallenge | None
) -> None:
    assert parse_challenge(header) == expected


def test_an_oversized_header_is_not_parsed() -> None:
    assert parse_challenge("Bearer scope=" + "a" * 10_000) is None
