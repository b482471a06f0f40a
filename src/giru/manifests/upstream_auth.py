"""How Giru authenticates to an upstream MCP server: `MCPServer.spec.auth`. Every secret is a
reference to a stored secret (`giru secrets set`), never a value in a manifest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from giru.manifests.fields import EnvName, SecretKey, SecretName, SpecModel


class SecretRef(SpecModel):
    """A secret by name (`giru secrets set NAME ...`) and the entry to read (default `value`)."""

    name: SecretName
    key: SecretKey = "value"


class NoAuth(SpecModel):
    """The upstream needs no credential from Giru."""

    type: Literal["none"]


class StaticAuth(SpecModel):
    """A secret sent as a header (HTTP transports; default `Authorization`) or set as an
    environment variable of the child process (stdio), `prefix` before it (`"Bearer "`)."""

    type: Literal["static"]
    secret_ref: SecretRef
    header: str | None = None
    env: EnvName | None = None
    prefix: str = Field(default="", max_length=64)


AuthSpec = Annotated[NoAuth | StaticAuth, Field(discriminator="type")]
