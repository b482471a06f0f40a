"""Shared pytest fixtures: the real MCP test peers (tests/peers.py), services (tests/services.py:
PostgreSQL, Redis, Vault) and the OIDC provider (tests/idp.py)."""

from tests.idp import oidc_provider
from tests.peers import (
    everything_http,
    everything_sse,
    everything_stdio_argv,
    filesystem_stdio_argv,
    go_fixture_legacy,
    go_fixture_modern,
    go_fixture_stdio_argv,
    memory_stdio_argv,
    python_dual_era,
)
from tests.services import postgres_server, postgres_url, redis_server, redis_url, vault_server

__all__ = [
    "everything_http",
    "everything_sse",
    "everything_stdio_argv",
    "filesystem_stdio_argv",
    "go_fixture_legacy",
    "go_fixture_modern",
    "go_fixture_stdio_argv",
    "memory_stdio_argv",
    "oidc_provider",
    "postgres_server",
    "postgres_url",
    "python_dual_era",
    "redis_server",
    "redis_url",
    "vault_server",
]
