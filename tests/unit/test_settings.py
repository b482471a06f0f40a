"""Settings from files (Compose secrets, mounted Kubernetes Secrets): a file named like the
variable, after the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from giru.settings import Settings


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
    settings = Settings(_secrets_dir=secrets)
    assert settings.key_pepper is not None
    assert settings.key_pepper.get_secret_value() == "pepper"
    assert settings.policy.bundle_token is not None
    assert settings.policy.bundle_token.get_secret_value() == "bundle"
    assert settings.database_url == "postgresql+asyncpg://giru:pw@postgres:5432/giru"


def test_the_environment_wins_over_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIRU_KEY_PEPPER", "from-env")
    settings = Settings(_secrets_dir=_files(tmp_path, GIRU_KEY_PEPPER="from-file"))
    assert settings.key_pepper is not None
    assert settings.key_pepper.get_secret_value() == "from-env"


def test_a_missing_secrets_directory_is_no_error(tmp_path: Path) -> None:
    assert Settings(_secrets_dir=tmp_path / "absent").key_pepper is None
