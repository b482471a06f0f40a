"""The shape of one manifest document (`apiVersion: giru.ai/v1alpha1`), validated by pydantic.

Rules that involve several fields of one document live in each spec's `problems()` so that every
problem is reported with its own field path; rules across documents live in `config.py`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.manifests.urls import upstream_url_problem

__all__ = [
    "API_VERSION",
    "ClientDocument",
    "ClientSpec",
    "Document",
    "MCPServerDocument",
    "MCPServerSpec",
    "Metadata",
    "ToolSpec",
    "VirtualServerDocument",
    "VirtualServerSpec",
    "parse_duration",
]

API_VERSION = "giru.ai/v1alpha1"

Problem = tuple[str, str]
"""A field path (camelCase, dotted) and a reason."""

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NAME_MAX = 40
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")  # as the catalog accepts (catalog/names.py)
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
# The gateway owns these on the upstream connection; a manifest must not override them.
_MANAGED_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "host",
        "mcp-protocol-version",
        "mcp-session-id",
        "transfer-encoding",
    }
)


def _name(value: str) -> str:
    if len(value) > _NAME_MAX:
        raise ValueError(f"must be at most {_NAME_MAX} characters")
    if not _NAME.fullmatch(value):
        raise ValueError(
            "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
        )
    return value


def _tag(value: str) -> str:
    if not _TAG.fullmatch(value):
        raise ValueError("a tag is 1-63 characters of letters, digits and _ . : / -")
    return value


def _tool_name(value: str) -> str:
    if not _TOOL_NAME.fullmatch(value):
        raise ValueError("a tool name is 1-128 characters of letters, digits and _ . -")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError("must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def parse_duration(value: Any) -> float:
    """Seconds from `30s`, `2m`, `500ms`, `1h`, `1.5s` or a positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a duration such as 30s, 2m, 500ms or a number of seconds")
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise ValueError("must be a duration such as 30s, 2m, 500ms or a number of seconds")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("must be greater than zero")
    return seconds


Name = Annotated[str, AfterValidator(_name)]
Tag = Annotated[str, AfterValidator(_tag)]
ToolName = Annotated[str, AfterValidator(_tool_name)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", frozen=True, strict=True, populate_by_name=False
    )


class Metadata(_Model):
    name: Name


class TimeoutsSpec(_Model):
    connect: Duration = 10.0
    call: Duration = 60.0
    call_max: Duration = 600.0


class ToolSpec(_Model):
    """Governance metadata about one upstream tool (used by policies later)."""

    tags: list[Tag] = Field(default_factory=list)
    sensitivity: Literal["low", "medium", "high"] | None = None


class MCPServerSpec(_Model):
    transport: Literal["stdio", "sse", "streamable-http"]
    url: str | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[EnvName, str] | None = None
    cwd: str | None = None
    headers: dict[str, str] | None = None
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)
    tags: list[Tag] = Field(default_factory=list)
    tools: dict[ToolName, ToolSpec] = Field(default_factory=dict)
    enabled: bool = True
    isolation: Literal["shared", "session"] = "shared"
    era: Literal["auto", "legacy", "modern"] = "auto"

    def problems(self) -> list[Problem]:
        """Rules that depend on the transport or on several fields."""
        found = self._stdio_problems() if self.transport == "stdio" else self._http_problems()
        if self.timeouts.call_max < self.timeouts.call:
            found.append(("spec.timeouts.callMax", "must be at least spec.timeouts.call"))
        return found

    def _stdio_problems(self) -> list[Problem]:
        found: list[Problem] = []
        if not self.command:
            found.append(("spec.command", "required when transport is stdio"))
        for field in ("url", "headers"):
            if getattr(self, field) is not None:
                found.append((f"spec.{field}", "not allowed when transport is stdio"))
        return found

    def _http_problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.url is None:
            found.append(("spec.url", f"required when transport is {self.transport}"))
        else:
            reason = upstream_url_problem(self.url)
            if reason is not None:
                found.append(("spec.url", reason))
        for field in ("command", "args", "env", "cwd"):
            if getattr(self, field) is not None:
                found.append((f"spec.{field}", "only allowed when transport is stdio"))
        for header in self.headers or {}:
            if not _HEADER_NAME.fullmatch(header):
                found.append((f"spec.headers.{header}", "not a valid HTTP header name"))
            elif header.lower() in _MANAGED_HEADERS:
                found.append((f"spec.headers.{header}", "managed by the gateway; remove it"))
        return found


class VirtualServerSpec(_Model):
    servers: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    prefix: bool = True
    auth: Literal["apiKey", "none"] = "apiKey"

    def problems(self) -> list[Problem]:
        if not self.servers and not self.tools:
            return [("spec", "list at least one of servers or tools")]
        return []


class ClientSpec(_Model):
    api_key_hash: str | None = None
    api_key_env: EnvName | None = None
    servers: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)

    def problems(self) -> list[Problem]:
        if (self.api_key_hash is None) == (self.api_key_env is None):
            return [("spec", "set exactly one of apiKeyHash or apiKeyEnv")]
        if self.api_key_hash is not None:
            reason = _key_hash_problem(self.api_key_hash)
            if reason is not None:
                return [("spec.apiKeyHash", reason)]
        return []


def _key_hash_problem(value: str) -> str | None:
    if value.startswith("sha256:"):
        if _SHA256.fullmatch(value):
            return None
        return "a sha256 hash is 'sha256:' and 64 lowercase hex digits"
    if value.startswith("$argon2id$"):
        try:
            extract_parameters(value)
        except InvalidHashError:
            return "not a valid argon2id PHC string"
        return None
    return "must be an argon2id PHC string ($argon2id$...) or sha256:<hex>"


class _Document(_Model):
    api_version: Literal["giru.ai/v1alpha1"]
    metadata: Metadata


class MCPServerDocument(_Document):
    kind: Literal["MCPServer"]
    spec: MCPServerSpec


class VirtualServerDocument(_Document):
    kind: Literal["VirtualServer"]
    spec: VirtualServerSpec


class ClientDocument(_Document):
    kind: Literal["Client"]
    spec: ClientSpec


Document = MCPServerDocument | VirtualServerDocument | ClientDocument
