"""Envelope encryption: values seal and open, bind their name, and survive a KEK rotation."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from giru.credentials.envelope import Keyring, Sealed, key_id, parse_key
from giru.errors import ConfigError, CredentialsUnavailableError

OLD = bytes(range(32))
NEW = bytes(range(32, 64))


@given(st.binary(max_size=4096))
def test_a_sealed_value_opens_to_itself_and_is_not_in_its_ciphertext(value: bytes) -> None:
    keyring = Keyring([OLD])
    sealed = keyring.seal("github-token", value)
    assert keyring.open("github-token", sealed) == value
    assert sealed.key_id == key_id(OLD)
    if len(value) >= 8:
        assert value not in sealed.ciphertext
        assert value not in sealed.wrapped_key


def test_each_seal_uses_a_fresh_data_key_and_nonce() -> None:
    keyring = Keyring([OLD])
    first, second = keyring.seal("a", b"same"), keyring.seal("a", b"same")
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key


def test_a_value_moved_to_another_secret_does_not_open() -> None:
    keyring = Keyring([OLD])
    sealed = keyring.seal("alpha", b"token")
    with pytest.raises(CredentialsUnavailableError, match="altered"):
        keyring.open("beta", sealed)


def test_a_flipped_ciphertext_bit_is_refused() -> None:
    keyring = Keyring([OLD])
    sealed = keyring.seal("alpha", b"token")
    broken = bytes([sealed.ciphertext[0]]) + bytes([sealed.ciphertext[1] ^ 1])
    tampered = dataclasses.replace(sealed, ciphertext=broken + sealed.ciphertext[2:])
    with pytest.raises(CredentialsUnavailableError, match="altered"):
        keyring.open("alpha", tampered)


def test_rewrap_moves_the_data_key_to_the_new_kek_and_keeps_the_ciphertext() -> None:
    sealed = Keyring([OLD]).seal("alpha", b"token")
    rotating = Keyring([NEW, OLD])
    moved = rotating.rewrap("alpha", sealed)
    assert moved is not None
    assert moved.key_id == key_id(NEW)
    assert moved.ciphertext == sealed.ciphertext
    assert Keyring([NEW]).open("alpha", moved) == b"token"
    assert rotating.rewrap("alpha", moved) is None


def test_a_value_sealed_by_an_unknown_kek_names_the_missing_key() -> None:
    sealed = Keyring([OLD]).seal("alpha", b"token")
    with pytest.raises(CredentialsUnavailableError, match="PREVIOUS_KEYS"):
        Keyring([NEW]).open("alpha", sealed)


def test_without_a_kek_nothing_is_sealed() -> None:
    with pytest.raises(CredentialsUnavailableError, match="GIRU_SECRETS__KEY"):
        Keyring([]).seal("alpha", b"token")
    with pytest.raises(CredentialsUnavailableError, match="GIRU_SECRETS__KEY"):
        Keyring([]).rewrap("alpha", Sealed("x", b"", b""))


@pytest.mark.parametrize("text", [OLD.hex(), base64.b64encode(OLD).decode(), f"  {OLD.hex()}\n"])
def test_a_key_is_read_from_hex_or_base64(text: str) -> None:
    assert parse_key(text) == OLD


@pytest.mark.parametrize("text", ["", "short", "zz" * 32, base64.b64encode(b"x" * 16).decode()])
def test_a_key_that_is_not_32_bytes_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        parse_key(text)
