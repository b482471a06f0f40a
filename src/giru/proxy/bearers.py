"""OAuth access tokens a worker admitted, each with the principal it was admitted as.

A verified JWT that passed an endpoint's audience and scope checks is kept here by its hash and
that endpoint's name, with the principal made for it (the person, the OAuth client, the grants,
the presented token), until the token's `exp`. The next call presenting it there costs the
token's SHA-256, one lookup, the expiry compare and the revocation check, which is never kept:
a person revoked since is refused on their next call. A reload (another authenticator or
protected resource) starts an empty set. Introspected (opaque) tokens are not kept here: their
own cache bounds how long an IdP's answer holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, NamedTuple

from giru.identity import AccessToken
from giru.proxy.endpoints import Principal

__all__ = ["AdmittedBearer", "AdmittedBearers"]

_SIZE: Final = 10_000


class AdmittedBearer(NamedTuple):
    token: AccessToken
    principal: Principal


class AdmittedBearers:
    """Admitted tokens by (token hash, endpoint name) until they expire; at most `size`, the
    oldest dropped first."""

    __slots__ = ("_clock", "_kept", "_size")

    def __init__(self, size: int = _SIZE, clock: Callable[[], float] = time.time) -> None:
        self._size = size
        self._clock = clock
        self._kept: dict[tuple[str, str], AdmittedBearer] = {}

    def get(self, token_id: str, endpoint: str) -> AdmittedBearer | None:
        key = (token_id, endpoint)
        found = self._kept.get(key)
        if found is not None and found.token.expires_at <= self._clock():
            del self._kept[key]
            return None
        return found

    def put(self, endpoint: str, bearer: AdmittedBearer) -> None:
        if self._size <= 0:
            return
        self._kept[(bearer.token.token_id, endpoint)] = bearer
        while len(self._kept) > self._size:
            del self._kept[next(iter(self._kept))]

    def __len__(self) -> int:
        return len(self._kept)
