"""An httpx transport whose every connection is checked by an `AddressPolicy`.

httpcore asks its network backend to connect to a host *name*; the guarded backend resolves the
name itself, refuses it when any address is refused, and connects to the checked address (TLS
still verifies the name). httpx follows redirects only when asked, and every hop goes through
this transport, so every hop is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from giru.egress.addresses import Resolve, checked_addresses, system_resolve
from giru.egress.guard import AddressPolicy, EgressRefusedError

__all__ = ["egress_transport"]


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: AddressPolicy, resolve: Resolve) -> None:
        self._policy = policy
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await checked_addresses(self._policy, host, port, self._resolve)
        except EgressRefusedError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} resolved to no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"egress to unix socket {path} refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _EgressTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self,
        policy: AddressPolicy,
        resolve: Resolve,
        *,
        verify: bool | str,
        http2: bool,
        limits: httpx.Limits,
        retries: int = 0,
    ) -> None:
        super().__init__(verify=verify, http2=http2, limits=limits, retries=retries)
        # httpx takes no network backend; its pool is rebuilt around ours (pinned httpx; the
        # unit tests fail if this stops taking effect).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            retries=retries,
            network_backend=_GuardedBackend(policy, resolve),
        )


def egress_transport(
    policy: AddressPolicy,
    *,
    verify: bool | str = True,
    http2: bool = False,
    limits: httpx.Limits | None = None,
    resolve: Resolve | None = None,
) -> httpx.AsyncBaseTransport:
    """An `httpx.AsyncClient` transport that connects only where `policy` allows.

    Pass it as `transport=`: a client with an explicit transport ignores proxy variables, so no
    proxy connects on the policy's behalf. httpx follows no redirects unless the client is
    built with `follow_redirects=True`; then every hop connects through here and is checked.

    Args:
        policy: Where connections may go.
        verify: TLS verification, as for `httpx.AsyncHTTPTransport`.
        http2: Offer HTTP/2 (needs the `h2` package).
        limits: Connection pool limits (default: 100 connections).
        resolve: Resolves names before the policy judges the answer (default: the system's).
    """
    return _EgressTransport(
        policy,
        resolve or system_resolve,
        verify=verify,
        http2=http2,
        limits=limits or httpx.Limits(max_connections=100),
    )
