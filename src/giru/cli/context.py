"""Where the CLI connects: `giru login` writes a context file; environment variables override it.

Precedence, per value: `GIRU_API_URL` / `GIRU_TOKEN`, then `$XDG_CONFIG_HOME/giru/config.yaml`
(default `~/.config/giru/config.yaml`), written with mode 0600 because it holds a token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from giru.errors import ConfigError, UnauthenticatedError

if TYPE_CHECKING:
    from giru.cli.client import ApiClient

__all__ = ["Connection", "config_path", "connect", "load_connection", "save_connection"]

URL_ENV = "GIRU_API_URL"
TOKEN_ENV = "GIRU_TOKEN"  # noqa: S105 -- the variable's name, not a secret


@dataclass(frozen=True, slots=True)
class Connection:
    url: str
    token: str = field(repr=False)

    def client(self, *, read_s: float | None = None) -> ApiClient:
        """An API client; `read_s` for a command whose answer takes long (default 30 s)."""
        # Imported on first use: the HTTP stack is most of an API command's start-up, and
        # `giru --help` (or a command that never connects) should not pay for it.
        from giru.cli.client import DEFAULT_TIMEOUT, ApiClient, Timeout

        if read_s is None:
            return ApiClient(self.url, self.token)
        return ApiClient(self.url, self.token, timeout=Timeout(DEFAULT_TIMEOUT.connect, read_s))


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/giru/config.yaml`, or `~/.config/giru/config.yaml`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "giru" / "config.yaml"


def load_connection(environ: Mapping[str, str] | None = None) -> Connection:
    """The URL and token to use; raises `UnauthenticatedError` when either is missing."""
    env = os.environ if environ is None else environ
    stored = _read(config_path(env))
    url = env.get(URL_ENV) or stored.get("url")
    token = env.get(TOKEN_ENV) or stored.get("token")
    if not isinstance(url, str) or not url:
        raise UnauthenticatedError(f"no API URL: run `giru login --url URL` or set {URL_ENV}")
    if not isinstance(token, str) or not token:
        raise UnauthenticatedError(f"no token: run `giru login --url URL` or set {TOKEN_ENV}")
    return Connection(url.rstrip("/"), token)


def connect(environ: Mapping[str, str] | None = None, *, read_s: float | None = None) -> ApiClient:
    """An API client for the current connection (`read_s`: see Connection.client)."""
    return load_connection(environ).client(read_s=read_s)


def save_connection(connection: Connection, environ: Mapping[str, str] | None = None) -> Path:
    """Write the context file (directory 0700, file 0600, replaced atomically)."""
    import yaml  # here and in _read, not at the top: see Connection.client

    path = config_path(environ)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = yaml.safe_dump({"url": connection.url, "token": connection.token}, sort_keys=False)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # the umask or an older file may have widened it
        handle.write(text)
    temporary.replace(path)
    return path


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    import yaml  # only when there is a file: GIRU_API_URL and GIRU_TOKEN alone need no parser

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML; run `giru login` again") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with url and token")
    return data
