"""Resolving a host for a guarded connection: the one place a name becomes checked addresses.

Both guarded clients (the httpx transport and the lean upstream client) connect only to what
`checked_addresses` returns: the name is judged first, then every address it resolves to, and
the whole name is refused when any of them is (so a name cannot smuggle one refused address
among allowed ones). IP literals resolve to themselves and are judged the same way.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence

from giru.egress.guard import AddressPolicy, EgressRefusedError

__all__ = ["Resolve", "checked_addresses", "system_resolve"]

Resolve = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) -> the addresses it resolves to."""


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses `getaddrinfo` gives for (host, port), in its order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(
    policy: AddressPolicy, host: str, port: int, resolve: Resolve
) -> Sequence[str]:
    """The addresses to connect to for (host, port), all allowed by `policy`.

    Raises:
        EgressRefusedError: The name, or any address it resolves to, is refused.
        OSError: The name does not resolve.
    """
    name = host.lower().removesuffix(".")
    reason = policy.host_refusal(name)
    if reason is not None:
        raise EgressRefusedError(f"{host}:{port}", reason)
    addresses = await resolve(host, port)
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            shown = reason if address == host else f"{host} resolves to {address}: {reason}"
            raise EgressRefusedError(f"{host}:{port}", shown)
    return addresses
