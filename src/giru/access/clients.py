"""The compiled client directory: who a bearer key belongs to and what that client may use.

Built once per `Config` (and again on every reload), then read on the hot path without I/O.
Keys are never logged or kept: env-provided keys are reduced to their SHA-256 digest at compile
time, argon2id hashes are verified through `KeyVerifier`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from giru.access.apikeys import KeyVerifier
from giru.errors import ConfigError
from giru.manifests.config import ClientConfig, Config, split_tool_ref

__all__ = ["MAX_KEY_LENGTH", "ClientDirectory", "ClientPrincipal"]

MAX_KEY_LENGTH = 1024
# RFC 6750 bearer tokens are visible ASCII; refusing the rest early keeps odd input from argon2.
_TOKEN = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class ClientPrincipal:
    """An authenticated client and its allow-list (absent = nothing: fail closed)."""

    name: str
    all_servers: bool = False
    servers: frozenset[str] = frozenset()
    tools: frozenset[tuple[str, str]] = frozenset()

    def allows_server(self, server: str) -> bool:
        """Whether the whole server (every tool, resource and prompt of it) is allowed."""
        return self.all_servers or server in self.servers

    def allows_tool(self, server: str, tool: str) -> bool:
        """Whether `tool` of `server` (unprefixed upstream name) may be listed and called."""
        return self.all_servers or server in self.servers or (server, tool) in self.tools


class ClientDirectory:
    """Immutable map from API keys to `ClientPrincipal`s, compiled from a `Config`."""

    __slots__ = ("_argon2", "_digests", "_principals", "_verifier")

    def __init__(
        self,
        principals: Mapping[str, ClientPrincipal],
        digests: tuple[tuple[bytes, ClientPrincipal], ...],
        argon2: tuple[tuple[str, ClientPrincipal], ...],
        verifier: KeyVerifier,
    ) -> None:
        self._principals = dict(principals)
        self._digests = digests
        self._argon2 = argon2
        self._verifier = verifier

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        environ: Mapping[str, str] | None = None,
        verifier: KeyVerifier | None = None,
    ) -> ClientDirectory:
        """Compile the clients of `config`, reading `apiKeyEnv` variables now.

        Pass the previous directory's `verifier` on reload to keep its cache warm.

        Raises:
            ConfigError: an `apiKeyEnv` variable is unset or empty, or two clients share a key.
        """
        env = os.environ if environ is None else environ
        digests: list[tuple[bytes, ClientPrincipal]] = []
        argon2: list[tuple[str, ClientPrincipal]] = []
        principals: dict[str, ClientPrincipal] = {}
        for client in config.clients.values():
            principal = _principal(client)
            principals[client.name] = principal
            if client.api_key_hash is not None and client.api_key_hash.startswith("$argon2id$"):
                argon2.append((client.api_key_hash, principal))
            else:
                digests.append((_digest(client, env), principal))
        _refuse_shared_digests(digests)
        return cls(principals, tuple(digests), tuple(argon2), verifier or KeyVerifier())

    async def authenticate(self, bearer_token: str) -> ClientPrincipal | None:
        """The client holding `bearer_token`, or None (unknown, malformed or too long)."""
        if len(bearer_token) > MAX_KEY_LENGTH or not _TOKEN.fullmatch(bearer_token):
            return None
        presented = hashlib.sha256(bearer_token.encode()).digest()
        found: ClientPrincipal | None = None
        # Compare against every digest without stopping early: the time taken says nothing about
        # which client (if any) matched. Manifest-defined clients number in the tens.
        for digest, principal in self._digests:
            if hmac.compare_digest(digest, presented) and found is None:
                found = principal
        if found is not None:
            return found
        for stored, principal in self._argon2:
            if await self._verifier.verify(bearer_token, stored):
                return principal
        return None

    def get(self, name: str) -> ClientPrincipal | None:
        """The principal of the client named `name` (for auth modes that name the client)."""
        return self._principals.get(name)

    @property
    def verifier(self) -> KeyVerifier:
        return self._verifier

    def __len__(self) -> int:
        return len(self._principals)


def _principal(client: ClientConfig) -> ClientPrincipal:
    tools = {parts for ref in client.tools if (parts := split_tool_ref(ref)) is not None}
    return ClientPrincipal(
        name=client.name,
        all_servers="*" in client.servers,
        servers=frozenset(s for s in client.servers if s != "*"),
        tools=frozenset(tools),
    )


def _digest(client: ClientConfig, environ: Mapping[str, str]) -> bytes:
    if client.api_key_hash is not None:  # `sha256:<hex>`, validated by the loader
        return bytes.fromhex(client.api_key_hash.removeprefix("sha256:"))
    variable = client.api_key_env or ""
    key = environ.get(variable, "")
    if not key:
        message = f"Client/{client.name}: spec.apiKeyEnv: environment variable {variable} is unset"
        raise ConfigError(message, data={"problems": [message]})
    return hashlib.sha256(key.encode()).digest()


def _refuse_shared_digests(digests: list[tuple[bytes, ClientPrincipal]]) -> None:
    owners: dict[bytes, str] = {}
    problems = [
        f"Client/{principal.name}: same API key as Client/{owners[digest]}"
        for digest, principal in digests
        if owners.setdefault(digest, principal.name) != principal.name
    ]
    if problems:
        raise ConfigError("\n".join(problems), data={"problems": problems})
