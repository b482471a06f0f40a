"""On a shared database the authorization server needs a configured key-encryption key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from giru.app import GiruApp
from giru.errors import ConfigError
from giru.manifests import load
from tests.integration.identity.broker import settings_for
from tests.peers import free_port

pytestmark = pytest.mark.integration

_BROKER = """
apiVersion: giru.ai/v1alpha1
kind: IdentityProvider
metadata: {name: company}
spec:
  issuer: http://127.0.0.1:1
  clientId: giru
  clientSecret: ${GIRU_TEST_UNUSED_IDP_SECRET}
"""


async def test_without_a_key_the_authorization_server_is_not_served(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = settings_for(tmp_path, free_port()).model_copy(
        update={"database_url": postgres_url, "key_pepper": SecretStr("p" * 32)}
    )
    app = GiruApp(settings)
    async with app.running():
        assert app.broker is None


async def test_without_a_key_a_broker_identity_provider_refuses_the_start(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIRU_TEST_UNUSED_IDP_SECRET", "s")
    manifest = tmp_path / "idp.yaml"
    manifest.write_text(_BROKER)
    settings = settings_for(tmp_path, free_port()).model_copy(
        update={"database_url": postgres_url, "key_pepper": SecretStr("p" * 32)}
    )
    app = GiruApp(settings, load(manifest))
    with pytest.raises(ConfigError, match="KEY_ENCRYPTION_KEY"):
        async with app.running():
            pass
