"""`UpstreamCredentials` over a real secret store: one read per secret and expiry, the same
resolved spec while the value is the same, a new one when it changes, fail closed when the
secret cannot be read (and audited either way)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from giru.audit import AuditLog
from giru.credentials import SecretStore, UpstreamCredentials
from giru.errors import CredentialsUnavailableError
from giru.store import AuditQuery, Store
from giru.upstream.base import ServerSpec, UpstreamAuth

pytestmark = pytest.mark.integration

HTTP = ServerSpec(
    "gh",
    "streamable-http",
    url="https://mcp.example.com/mcp",
    headers={"X-Toolsets": "repos"},
    auth=UpstreamAuth("github-token", header="Authorization", prefix="Bearer "),
)
STDIO = ServerSpec("cli", "stdio", command="gh-mcp", auth=UpstreamAuth("github-token", env="T"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _reads(audit_log: AuditLog, store: Store) -> int:
    assert await audit_log.flush()
    page = await store.list_audit(AuditQuery(action="secrets/read"), limit=500)
    return len(page.items)


async def test_the_secret_becomes_a_header_or_an_env_var_read_once_for_many_calls(
    secret_store: SecretStore, audit_log: AuditLog, store: Store
) -> None:
    await secret_store.put("github-token", {"value": "tok"}, actor="alice")
    credentials = UpstreamCredentials(secret_store, ttl_s=60)
    resolved = await asyncio.gather(*(credentials.resolve(HTTP) for _ in range(20)))
    assert resolved[0].headers == {"X-Toolsets": "repos", "Authorization": "Bearer tok"}
    assert all(r is resolved[0] for r in resolved[1:])
    child = await credentials.resolve(STDIO)
    assert child.env == {"T": "tok"}
    assert await _reads(audit_log, store) == 1
    plain = ServerSpec("plain", "stdio", command="x")
    assert await credentials.resolve(plain) is plain


async def test_after_expiry_or_a_change_the_secret_is_read_again(
    secret_store: SecretStore, audit_log: AuditLog, store: Store
) -> None:
    await secret_store.put("github-token", {"value": "tok"}, actor="alice")
    clock = Clock()
    credentials = UpstreamCredentials(secret_store, ttl_s=10, clock=clock)
    first = await credentials.resolve(HTTP)
    clock.now = 11
    assert await credentials.resolve(HTTP) is first  # read again, same value: same spec
    await secret_store.put("github-token", {"value": "new"}, actor="alice")
    assert await credentials.resolve(HTTP) is first  # cached until expiry or forget()
    credentials.forget()
    second = await credentials.resolve(HTTP)
    assert second.headers["Authorization"] == "Bearer new"
    assert await _reads(audit_log, store) == 3
    credentials.forget()
    recompiled = dataclasses.replace(HTTP)  # a config reload compiles equal, new specs
    assert recompiled is not HTTP
    assert await credentials.resolve(recompiled) is second  # so the pool keeps its session


async def test_an_unreadable_secret_fails_closed_every_time(
    secret_store: SecretStore, store: Store, audit_log: AuditLog
) -> None:
    credentials = UpstreamCredentials(secret_store, ttl_s=60)
    for _ in range(2):
        with pytest.raises(CredentialsUnavailableError, match="no secret named 'github-token'"):
            await credentials.resolve(HTTP)
    await secret_store.put("github-token", {"other": "x"}, actor="alice")
    with pytest.raises(CredentialsUnavailableError, match="no entry 'value'"):
        await credentials.resolve(HTTP)
    credentials.forget()
    await secret_store.put("github-token", {"value": "a\nInjected: 1"}, actor="alice")
    with pytest.raises(CredentialsUnavailableError, match="line break"):
        await credentials.resolve(HTTP)
    assert await audit_log.flush()
    outcomes = [
        e.outcome for e in (await store.list_audit(AuditQuery(action="secrets/read"))).items
    ]
    assert outcomes.count("error") == 2
