"""`MCPServer.spec.auth`: `none` and `static` (a secret reference, never a value), checked per
transport, and compiled into the connector's `UpstreamAuth`."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from giru.manifests.compiler import compile_config
from giru.manifests.config import Located
from giru.manifests.documents import MCPServerDocument, MCPServerSpec
from giru.upstream.auth import MtlsAuth, OAuthClientAuth
from giru.upstream.base import UpstreamAuth

HTTP: dict[str, Any] = {"transport": "streamable-http", "url": "https://mcp.example.com/mcp"}
STDIO: dict[str, Any] = {"transport": "stdio", "command": "mcp-github"}
REF = {"secretRef": {"name": "github-token"}}


def spec(base: dict[str, Any], auth: dict[str, Any], **more: Any) -> MCPServerSpec:
    return MCPServerSpec.model_validate({**base, **more, "auth": auth})


def compiled(
    base: dict[str, Any], auth: dict[str, Any]
) -> UpstreamAuth | OAuthClientAuth | MtlsAuth | None:
    document = MCPServerDocument.model_validate(
        {
            "apiVersion": "giru.ai/v1alpha1",
            "kind": "MCPServer",
            "metadata": {"name": "gh"},
            "spec": {**base, "auth": auth},
        }
    )
    config, problems = compile_config([Located("test", document)], environ={})
    assert problems == []
    return config.servers["gh"].to_spec().auth


def test_static_auth_over_http_defaults_to_the_authorization_header() -> None:
    assert compiled(HTTP, {"type": "static", "prefix": "Bearer ", **REF}) == UpstreamAuth(
        "github-token", header="Authorization", prefix="Bearer "
    )


def test_static_auth_over_stdio_sets_an_environment_variable() -> None:
    auth = {"type": "static", "env": "GH_TOKEN", "secretRef": {"name": "gh", "key": "token"}}
    assert compiled(STDIO, auth) == UpstreamAuth("gh", key="token", env="GH_TOKEN")


def test_no_auth_compiles_to_none() -> None:
    assert compiled(HTTP, {"type": "none"}) is None


@pytest.mark.parametrize(
    ("base", "auth", "more", "field"),
    [
        (STDIO, {"type": "static", **REF}, {}, "spec.auth.env"),
        (STDIO, {"type": "static", "env": "T", "header": "X-Token", **REF}, {}, "spec.auth.header"),
        (STDIO, {"type": "static", "env": "T", **REF}, {"env": {"T": "x"}}, "spec.auth.env"),
        (HTTP, {"type": "static", "env": "T", **REF}, {}, "spec.auth.env"),
        (HTTP, {"type": "static", "header": "Host", **REF}, {}, "spec.auth.header"),
        (HTTP, {"type": "static", "header": "Bad Header", **REF}, {}, "spec.auth.header"),
        (
            HTTP,
            {"type": "static", **REF},
            {"headers": {"authorization": "Bearer x"}},
            "spec.auth.header",
        ),
        (HTTP, {"type": "static", "prefix": "a\r\nX-Evil: 1", **REF}, {}, "spec.auth.prefix"),
    ],
)
def test_static_auth_rules_name_the_field(
    base: dict[str, Any], auth: dict[str, Any], more: dict[str, Any], field: str
) -> None:
    assert field in [path for path, _ in spec(base, auth, **more).problems()]


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "static"},  # no secretRef
        {"type": "static", "secretRef": {"name": "../etc/passwd"}},
        {"type": "static", "secretRef": {"name": "gh", "key": ".."}},
        {"type": "static", "value": "ghp_inline", **REF},  # values never go in a manifest
        {"type": "oauth2-magic"},
        {"type": "none", **REF},
    ],
)
def test_malformed_auth_is_refused(auth: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        spec(HTTP, auth)
