from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from giru.errors import ConfigError
from giru.identity.broker.flows import Flow, FlowSeal, browser_hash
from giru.identity.broker.sealing import Sealer, key_encryption_key
from giru.identity.people import Person
from giru.settings import IdentitySettings, Settings

KEY = bytes(range(32))
NOW = 1_800_000_000


def _flow(cookie: str = "cookie", person: Person | None = None) -> Flow:
    return Flow(
        flow_id="f1",
        client_id="c1",
        client_name="App",
        redirect_uri="http://127.0.0.1/cb",
        state="s",
        code_challenge="x" * 43,
        resource="https://giru.example/mcp",
        scope="mcp",
        expires_at=NOW + 60,
        browser=browser_hash(cookie),
        idp_nonce="n",
        idp_verifier="v",
        person=person,
    )


def test_what_is_sealed_opens_only_with_the_same_key_and_label() -> None:
    sealer = Sealer(KEY)
    token = sealer.seal(b"secret", b"label")
    assert sealer.open(token, b"label") == b"secret"
    with pytest.raises(ValueError, match="not sealed"):
        sealer.open(token, b"other label")
    with pytest.raises(ValueError, match="not sealed"):
        Sealer(bytes(32)).open(token, b"label")
    with pytest.raises(ValueError, match="not sealed"):
        sealer.open(token[:-3] + "AAA", b"label")


def test_derived_sealers_do_not_open_each_other() -> None:
    sealer = Sealer(KEY)
    token = sealer.derive("a").seal(b"x", b"")
    with pytest.raises(ValueError, match="not sealed"):
        sealer.derive("b").open(token, b"")


def test_the_key_file_is_created_mode_600_beside_a_sqlite_store(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'giru.db'}")
    key = key_encryption_key(settings)
    path = tmp_path / "giru.identity-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_encryption_key(settings) == key
    assert len(key) == 32


def test_a_shared_database_needs_a_configured_key() -> None:
    settings = Settings(database_url="postgresql+asyncpg://giru@db/giru")
    with pytest.raises(ConfigError, match="KEY_ENCRYPTION_KEY"):
        key_encryption_key(settings)
    configured = Settings(
        database_url="postgresql+asyncpg://giru@db/giru",
        identity=IdentitySettings(key_encryption_key=SecretStr(KEY.hex())),
    )
    assert key_encryption_key(configured) == KEY
    with pytest.raises(ConfigError, match="64 hex"):
        key_encryption_key(
            Settings(identity=IdentitySettings(key_encryption_key=SecretStr("short")))
        )


def test_a_flow_opens_only_in_the_browser_that_started_it() -> None:
    seal = FlowSeal(Sealer(KEY))
    token = seal.seal(_flow())
    assert seal.open(token, consent=False, browser_cookie="cookie", now=NOW) == _flow()
    with pytest.raises(ValueError, match="another browser"):
        seal.open(token, consent=False, browser_cookie="other", now=NOW)
    with pytest.raises(ValueError, match="cookie"):
        seal.open(token, consent=False, browser_cookie=None, now=NOW)
    with pytest.raises(ValueError, match="too long"):
        seal.open(token, consent=False, browser_cookie="cookie", now=NOW + 61)


def test_a_sign_in_flow_is_not_a_consent_flow() -> None:
    seal = FlowSeal(Sealer(KEY))
    person = Person("https://idp.example", "sub", "a@example", "A", ("g",), ("pwd",), NOW)
    consent = seal.seal(_flow(person=person))
    opened = seal.open(consent, consent=True, browser_cookie="cookie", now=NOW)
    assert opened.person == person
    with pytest.raises(ValueError, match="not sealed"):
        seal.open(consent, consent=False, browser_cookie="cookie", now=NOW)
    with pytest.raises(ValueError, match="not sealed"):
        seal.open(seal.seal(_flow()), consent=True, browser_cookie="cookie", now=NOW)


def test_the_csrf_token_is_bound_to_flow_and_browser() -> None:
    seal = FlowSeal(Sealer(KEY))
    token = seal.csrf_token("f1", "cookie")
    assert seal.csrf_matches(token, "f1", "cookie")
    assert not seal.csrf_matches(token, "f2", "cookie")
    assert not seal.csrf_matches(token, "f1", "other")
    assert not seal.csrf_matches(None, "f1", "cookie")
