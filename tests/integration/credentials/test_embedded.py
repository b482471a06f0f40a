"""`giru run` in embedded mode: the key-encryption key file is made on the first start (mode 0600,
beside the SQLite store, like the pepper) and kept across restarts; a secret set through the API
survives the restart and never shows in the store's file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.gateway import ADMIN_TOKEN, run_giru

pytestmark = pytest.mark.integration

TOKEN = "ghp_embedded-0123456789abcdef0123"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NO_POLICY = {"GIRU_POLICY__ENABLED": "false"}


def test_the_first_start_makes_a_private_key_file_that_later_starts_reuse(tmp_path: Path) -> None:
    key_file = tmp_path / "giru.secrets-key"
    with run_giru(None, tmp_path, extra_env=NO_POLICY) as giru:
        assert key_file.stat().st_mode & 0o777 == 0o600
        made = httpx.put(
            giru.url("/api/v1/secrets/github-token"),
            json={"data": {"value": TOKEN}},
            headers=ADMIN,
            timeout=10,
        )
        assert made.status_code == 201, made.text
    key = key_file.read_text()
    assert (tmp_path / "giru.pepper").exists()
    with run_giru(None, tmp_path, extra_env=NO_POLICY) as giru:
        listed = httpx.get(giru.url("/api/v1/secrets"), headers=ADMIN, timeout=10)
        assert [item["name"] for item in listed.json()["items"]] == ["github-token"]
        rotated = httpx.post(giru.url("/api/v1/secrets:rotate-key"), headers=ADMIN, timeout=30)
        assert rotated.json()["rewrapped"] == 1, rotated.text
    assert key_file.read_text() != key
    for path in tmp_path.glob("giru.db*"):
        assert TOKEN.encode() not in path.read_bytes()
