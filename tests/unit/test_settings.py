"""Settings from files (Compose secrets, mounted Kubernetes Secrets): a file named like the
variable, after the environment; where the record spools live when no setting names them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from giru.settings import Settings


def _settings(secrets_dir: Path) -> Settings:
    """Settings as built at start, with files from `secrets_dir` instead of /run/secrets."""
    options: dict[str, Any] = {"_secrets_dir": secrets_dir}  # pydantic-settings' init option
    return Settings(**options)


def _files(directory: Path, **values: str) -> Path:
    for name, value in values.items():
        (directory / name).write_text(value + "\n")
    return directory


def test_a_file_named_like_a_variable_is_that_setting(tmp_path: Path) -> None:
    secrets = _files(
        tmp_path,
        GIRU_KEY_PEPPER="pepper",
        GIRU_POLICY__BUNDLE_TOKEN="bundle",
        GIRU_DATABASE_URL="postgresql+asyncpg://giru:pw@postgres:5432/giru",
    )
    settings = _settings(secrets)
    assert settings.key_pepper is not None
    assert settings.key_pepper.get_secret_value() == "pepper"
    assert settings.policy.bundle_token is not None
    assert settings.policy.bundle_token.get_secret_value() == "bundle"
    assert settings.database_url == "postgresql+asyncpg://giru:pw@postgres:5432/giru"


def test_the_environment_wins_over_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIRU_KEY_PEPPER", "from-env")
    settings = _settings(_files(tmp_path, GIRU_KEY_PEPPER="from-file"))
    assert settings.key_pepper is not None
    assert settings.key_pepper.get_secret_value() == "from-env"


def test_a_missing_secrets_directory_is_no_error(tmp_path: Path) -> None:
    assert _settings(tmp_path / "absent").key_pepper is None


def test_the_spools_sit_beside_a_sqlite_store_unless_set(tmp_path: Path) -> None:
    embedded = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'giru.db'}")
    assert embedded.usage_spool_dir == tmp_path / "data" / "giru-spool"
    assert embedded.audit_spool_dir == tmp_path / "data" / "giru-audit-spool"
    shared = Settings(database_url="postgresql+asyncpg://giru@db/giru")
    assert (shared.usage_spool_dir, shared.audit_spool_dir) == (
        Path("giru-spool"),
        Path("giru-audit-spool"),
    )
    chosen: dict[str, Any] = {
        "metering": {"spool_dir": tmp_path / "u"},
        "audit": {"spool_dir": tmp_path / "a"},
    }
    placed = Settings(**chosen)
    assert (placed.usage_spool_dir, placed.audit_spool_dir) == (tmp_path / "u", tmp_path / "a")
