from __future__ import annotations

import base64

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from giru.credentials.oauth import ClientAuth, OAuthError, Pkce


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_client_secret_basic_form_encodes_id_and_secret_into_the_header() -> None:
    form: dict[str, str] = {}
    headers: dict[str, str] = {}
    ClientAuth("my client", "client_secret_basic", "p:ss/word").apply(form, headers, "aud")
    assert form == {}
    decoded = base64.b64decode(headers["Authorization"].removeprefix("Basic ")).decode()
    assert decoded == "my+client:p%3Ass%2Fword"


def test_client_secret_post_puts_id_and_secret_in_the_form() -> None:
    form: dict[str, str] = {}
    ClientAuth("c", "client_secret_post", "s").apply(form, {}, "aud")
    assert form == {"client_id": "c", "client_secret": "s"}


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [
        (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    ],
)
def test_private_key_jwt_signs_an_assertion_for_the_issuer(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, algorithm: str
) -> None:
    form: dict[str, str] = {}
    ClientAuth("cid", "private_key_jwt", pem(key)).apply(form, {}, "https://as")
    assert form["client_assertion_type"].endswith(":jwt-bearer")
    header = jwt.get_unverified_header(form["client_assertion"])
    claims = jwt.decode(
        form["client_assertion"], key.public_key(), algorithms=[algorithm], audience="https://as"
    )
    assert header["alg"] == algorithm
    assert (claims["iss"], claims["sub"], claims["exp"] - claims["iat"]) == ("cid", "cid", 60)
    assert form["client_id"] == "cid"


def test_a_missing_secret_or_an_unreadable_key_is_a_clear_error() -> None:
    with pytest.raises(OAuthError, match="needs a client secret"):
        ClientAuth("c", "client_secret_post").apply({}, {}, "aud")
    with pytest.raises(OAuthError, match="not an unencrypted PEM key"):
        ClientAuth("c", "private_key_jwt", "not a key").apply({}, {}, "aud")


def test_the_secret_is_left_out_of_repr() -> None:
    assert "hunter2" not in repr(ClientAuth("c", "client_secret_post", "hunter2"))


def test_pkce_challenges_are_s256_of_a_long_verifier() -> None:
    pair = Pkce("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    assert pair.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 App. B
    assert 43 <= len(Pkce().verifier) <= 128
    assert Pkce().verifier != Pkce().verifier
