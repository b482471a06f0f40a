"""aiohttp sessions whose every connection is checked by an `AddressPolicy`.

Two hooks on the connector see what is really connected to: a resolver that refuses a host
name when any address it resolves to is refused (so the whole name fails, with the name in the
message), and a socket factory that refuses each address just before `connect()` (IP literals
never reach a resolver). Redirects raise `RedirectRefusedError` unless the session follows them,
and then each hop's URL is checked like the first one's. A session keeps no cookies: what one
upstream sets is never sent again on another caller's behalf.
"""

from __future__ import annotations

import socket
from typing import Any, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_middlewares import ClientHandlerType, ClientMiddlewareType
from aiohttp.connector import AddrInfoType, SocketFactoryType
from aiohttp.resolver import ThreadedResolver

from giru.egress.guard import (
    REDIRECTS,
    AddressPolicy,
    EgressRefusedError,
    RedirectRefusedError,
    url_problem,
)

__all__ = ["egress_connector", "egress_session", "refuse_redirect"]


class _ClientRedirectRefusedError(RedirectRefusedError, aiohttp.ClientError):
    """Caught by `except aiohttp.ClientError` like any other client failure."""


class _ClientEgressRefusedError(EgressRefusedError, aiohttp.ClientError):
    pass


class _GuardedResolver(AbstractResolver):
    def __init__(self, policy: AddressPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = host.lower().removesuffix(".")
        reason = self._policy.host_refusal(name)
        if reason is not None:
            raise EgressRefusedError(f"{host}:{port}", reason)
        results = await self._inner.resolve(host, port, family)
        for result in results:
            reason = self._policy.refusal(result["host"])
            if reason is not None:
                raise EgressRefusedError(
                    f"{host}:{port}", f"{host} resolves to {result['host']}: {reason}"
                )
        return results

    async def close(self) -> None:
        await self._inner.close()


def _socket_factory(policy: AddressPolicy) -> SocketFactoryType:
    def open_socket(addr_info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, address = addr_info
        reason = policy.refusal(str(address[0]))
        if reason is not None:
            raise EgressRefusedError(f"{address[0]}:{address[1]}", reason)
        return socket.socket(family=family, type=kind, proto=proto)

    return open_socket


def egress_connector(
    policy: AddressPolicy, *, resolver: AbstractResolver | None = None, **kwargs: Any
) -> aiohttp.TCPConnector:
    """A `TCPConnector` (taking the same keyword arguments) that connects only where `policy`
    allows: resolved addresses and IP literals alike.

    Args:
        policy: Where connections may go.
        resolver: Resolves names before the policy judges the answer (default: the system's,
            through `getaddrinfo` in a thread); the connector does not close it.
        **kwargs: Passed to `aiohttp.TCPConnector` (`limit`, `ssl`, `ttl_dns_cache`, ...).
    """
    guarded = _GuardedResolver(policy, resolver or ThreadedResolver())
    return aiohttp.TCPConnector(resolver=guarded, socket_factory=_socket_factory(policy), **kwargs)


def egress_session(
    policy: AddressPolicy,
    *,
    follow_redirects: bool = False,
    connector: aiohttp.TCPConnector | None = None,
    **kwargs: Any,
) -> aiohttp.ClientSession:
    """A `ClientSession` (taking the same keyword arguments) over `egress_connector(policy)`.

    Args:
        policy: Where connections may go.
        follow_redirects: False: a 3xx answer with a Location raises `RedirectRefusedError`
            (also an `aiohttp.ClientError`), whatever `allow_redirects` a request passes; a
            request that passes `middlewares=()` (the upstream connector's hot path) must pass
            `allow_redirects=False` and call `refuse_redirect` on its answer instead.
            True: redirects are followed and each hop is checked before it is requested.
        connector: Keyword arguments for the connector instead (`limit`, `ssl`, ...) go in
            `egress_connector`; a connector passed here must come from it.
        **kwargs: Passed to `aiohttp.ClientSession` (`timeout`, `headers`, ...).
    """
    middleware = _hop_checker(policy) if follow_redirects else _redirect_refuser
    kwargs.setdefault("cookie_jar", aiohttp.DummyCookieJar())
    return aiohttp.ClientSession(
        connector=connector or egress_connector(policy),
        connector_owner=True,
        middlewares=(middleware,),
        trust_env=False,  # a proxy from the environment would connect for us, unchecked
        **kwargs,
    )


class _Headers(Protocol):
    def get(self, name: str, /) -> str | None: ...


class _Answer(Protocol):
    """An answer of either client (`aiohttp.ClientResponse`, `giru.egress.lean.LeanResponse`)."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> _Headers: ...
    @property
    def url(self) -> object: ...
    def release(self) -> None: ...


def refuse_redirect(response: _Answer) -> None:
    """Raise `RedirectRefusedError` (also an `aiohttp.ClientError`) when `response` is a redirect
    (a 3xx with a Location), after releasing its connection."""
    location = response.headers.get("Location")
    if response.status in REDIRECTS and location is not None:
        response.release()
        raise _ClientRedirectRefusedError(str(response.url), response.status, location)


async def _redirect_refuser(
    request: aiohttp.ClientRequest, handler: ClientHandlerType
) -> aiohttp.ClientResponse:
    response = await handler(request)
    refuse_redirect(response)
    return response


def _hop_checker(policy: AddressPolicy) -> ClientMiddlewareType:
    async def check_hop(
        request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        reason = url_problem(str(request.url), policy)
        if reason is not None:
            raise _ClientEgressRefusedError(str(request.url), reason)
        return await handler(request)

    return check_hop
