"""IdentityProvider documents: field rules, `${VAR}` secrets, one broker, one issuer each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from giru.errors import ConfigError
from giru.manifests import load
from giru.manifests.documents import IdentityProviderSpec

HEADER = "apiVersion: giru.ai/v1alpha1\nkind: IdentityProvider\n"


def spec(**fields: Any) -> IdentityProviderSpec:
    return IdentityProviderSpec.model_validate(
        {"issuer": "https://login.example.com", "clientId": "giru", **fields}
    )


def test_an_identity_provider_defaults_to_broker_mode_with_oidc_claims() -> None:
    dumped = spec().model_dump(mode="json", by_alias=True)
    assert dumped["mode"] == "broker"
    assert dumped["scopes"] == ["openid", "email", "profile"]
    assert dumped["claims"] == {
        "subject": "sub",
        "email": "email",
        "name": "name",
        "groups": "groups",
    }
    assert spec().problems() == []


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"issuer": "ftp://login.example.com"}, ("spec.issuer", "scheme must be http or https")),
        (
            {"issuer": "http://login.example.com"},
            ("spec.issuer", "must be https (plain http only on localhost or 127.0.0.1)"),
        ),
        (
            {"issuer": "https://login.example.com/?tenant=a"},
            ("spec.issuer", "a query is not allowed"),
        ),
        (
            {"jwksUri": "https://169.254.169.254/keys"},
            ("spec.jwksUri", "address 169.254.169.254 is link-local (cloud metadata lives there)"),
        ),
        ({"clientId": None}, ("spec.clientId", "required when mode is broker")),
        ({"scopes": ["email"]}, ("spec.scopes", "must include openid when mode is broker")),
        ({"audience": "api://giru"}, ("spec.audience", "only allowed when mode is direct")),
        (
            {"clientSecret": "hunter2"},
            (
                "spec.clientSecret",
                "write ${VAR}: a secret in clear is not stored (the variable holds it)",
            ),
        ),
        ({"scopes": ["openid", "openid"]}, ("spec.scopes", "lists a scope more than once")),
    ],
)
def test_a_bad_identity_provider_names_the_field(
    fields: dict[str, Any], problem: tuple[str, str]
) -> None:
    assert problem in spec(**fields).problems()


def test_direct_mode_needs_no_client_and_may_name_an_audience() -> None:
    direct = spec(mode="direct", clientId=None, audience="api://giru", scopes=["mcp"])
    assert direct.problems() == []


def test_a_plain_http_issuer_on_loopback_is_allowed_for_development() -> None:
    assert spec(issuer="http://127.0.0.1:9000").problems() == []


def test_the_client_secret_is_read_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "idp.yaml").write_text(
        HEADER + "metadata: {name: corp}\n"
        "spec: {issuer: 'https://login.example.com', clientId: giru,"
        " clientSecret: '${IDP_SECRET}'}\n"
    )
    config = load(tmp_path, environ={"IDP_SECRET": "s3cret"}, cwd=tmp_path)
    idp = config.identity_providers["corp"]
    assert idp.client_secret == "s3cret"
    assert "s3cret" not in repr(idp)


def test_an_unset_secret_variable_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "idp.yaml").write_text(
        HEADER + "metadata: {name: corp}\n"
        "spec: {issuer: 'https://login.example.com', clientId: giru,"
        " clientSecret: '${IDP_SECRET}'}\n"
    )
    with pytest.raises(ConfigError, match="environment variable IDP_SECRET is not set"):
        load(tmp_path, environ={}, cwd=tmp_path)


def test_two_brokers_or_one_issuer_twice_are_refused(tmp_path: Path) -> None:
    (tmp_path / "idp.yaml").write_text(
        HEADER + "metadata: {name: a}\nspec: {issuer: 'https://a.example', clientId: giru}\n"
        "---\n" + HEADER + "metadata: {name: b}\nspec: {issuer: 'https://b.example', clientId: g}\n"
        "---\n" + HEADER + "metadata: {name: c}\n"
        "spec: {issuer: 'https://a.example/', mode: direct}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ={}, cwd=tmp_path)
    message = str(caught.value)
    assert (
        "IdentityProvider/b: spec.mode: only one IdentityProvider may be in broker mode" in message
    )
    assert "IdentityProvider/c: spec.issuer: IdentityProvider/a has the same issuer" in message
