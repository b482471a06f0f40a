from __future__ import annotations

import orjson
import pytest

from giru.credentials.oauth import (
    DEFAULT_LIFETIME_S,
    Reply,
    TokenEndpointError,
    TokenSet,
    read_token_reply,
)


def reply(status: int, body: object, content_type: str = "application/json") -> Reply:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Reply(status, content_type, raw, {})


def test_a_token_answer_is_read_with_its_lifetime_and_scope() -> None:
    tokens = read_token_reply(
        reply(200, {"access_token": "a", "token_type": "bearer", "expires_in": 60, "scope": "x y"}),
        1000.0,
    )
    assert (tokens.access_token, tokens.expires_at, tokens.scope) == ("a", 1060.0, ("x", "y"))
    assert tokens.expires_in_given


@pytest.mark.parametrize("expires_in", [None, "soon", -5, 0, True, 10**12])
def test_a_token_without_a_usable_expires_in_lives_the_documented_default(
    expires_in: object,
) -> None:
    body = {"access_token": "a", "token_type": "Bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in  # type: ignore[assignment]
    tokens = read_token_reply(reply(200, body), 0.0)
    assert tokens.expires_at == DEFAULT_LIFETIME_S
    assert not tokens.expires_in_given


def test_a_refresh_answer_without_a_new_refresh_token_keeps_the_old_one() -> None:
    tokens = read_token_reply(reply(200, {"access_token": "a"}), 0.0, previous_refresh="r1")
    assert tokens.refresh_token == "r1"
    rotated = read_token_reply(
        reply(200, {"access_token": "a", "refresh_token": "r2"}), 0.0, previous_refresh="r1"
    )
    assert rotated.refresh_token == "r2"


@pytest.mark.parametrize(
    ("answer", "error", "says"),
    [
        (reply(200, b"<html>login</html>", "text/html"), None, "text/html, not JSON"),
        (reply(500, b"oops", "text/plain"), None, "HTTP 500"),
        (reply(503, {"error": "temporarily_unavailable"}), None, "HTTP 503"),
        (
            reply(400, {"error": "invalid_grant", "error_description": "gone"}),
            "invalid_grant",
            "gone",
        ),
        (reply(401, {}), None, "no error code"),
        (reply(200, {"token_type": "Bearer"}), None, "without an access_token"),
        (reply(200, {"access_token": "a", "token_type": "DPoP"}), None, "Bearer tokens only"),
        (reply(200, [1, 2]), None, "not an object"),
    ],
)
def test_bad_token_answers_are_refused_clearly(answer: Reply, error: str | None, says: str) -> None:
    with pytest.raises(TokenEndpointError) as caught:
        read_token_reply(answer, 0.0, url="https://as/token")
    assert caught.value.error == error
    assert says in caught.value.message
    assert caught.value.code == "credentials_unavailable"


def test_token_values_stay_out_of_repr_and_round_trip_through_storage() -> None:
    tokens = TokenSet("secret-at", 1.0, 2.0, "secret-rt", ("s",), None, True)
    assert "secret" not in repr(tokens)
    assert TokenSet.loads(tokens.dumps()) == tokens


def test_freshness_leaves_a_margin_of_at_most_a_fifth_of_the_lifetime() -> None:
    short = TokenSet("a", 0.0, 2.0)
    assert short.fresh(1.5, margin_s=60.0)
    assert not short.fresh(1.7, margin_s=60.0)
    long = TokenSet("a", 0.0, 3600.0)
    assert long.fresh(3539.0, margin_s=60.0)
    assert not long.fresh(3541.0, margin_s=60.0)
