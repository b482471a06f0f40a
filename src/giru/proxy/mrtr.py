"""Multi-round-trip requests for modern clients of legacy upstreams (2026-07-28 `input_required`).

A legacy upstream asks the client mid-call (sampling, elicitation, roots). A modern client cannot
receive requests, so Giru answers the call with an `input_required` result carrying the question
and a sealed `requestState`, keeps the upstream call parked, and resumes it when the client
retries with `inputResponses`. The state is an HMAC over the parked call's id, an expiry and the
binding it was handed out for (principal, endpoint, method, target): possession alone is not
enough, and tampering is detected. The parked call lives in one process, so its key does too
(docs/security/opaque-values.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from giru.mcp.jsonrpc import JsonRpcError
from giru.proxy.envelopes import RefusedValueError

__all__ = ["STATE_PREFIX", "Ask", "Outbox", "ParkedCalls", "Run", "required_capability"]

STATE_PREFIX: Final = "giru1."
_KIND: Final = "requestState"
_TTL_S: Final = 120.0
_MAX_PARKED: Final = 10_000
_CAPABILITY: Final = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


def required_capability(method: str) -> str | None:
    return _CAPABILITY.get(method)


@dataclass(eq=False)
class Ask:
    """One server->client request waiting for the client's answer."""

    key: str
    request: dict[str, Any]
    future: asyncio.Future[dict[str, Any]]


class Outbox(asyncio.Queue[bytes | Ask | JsonRpcError]):
    """What a run emits towards the client, bounded (the run waits while it is full);
    `on_put` hears every item put, so the request answering the run waits on one future of
    its own instead of a getter task per item."""

    def __init__(self) -> None:
        super().__init__(256)
        self.on_put: Callable[[], None] | None = None

    def _put(self, item: bytes | Ask | JsonRpcError) -> None:
        super()._put(item)
        if self.on_put is not None:
            self.on_put()


@dataclass(eq=False)
class Run:
    """One modern call in flight: its dispatch task and what it emits towards the client."""

    task: asyncio.Task[dict[str, Any]]
    out: Outbox = field(default_factory=Outbox)
    asks: dict[str, Ask] = field(default_factory=dict)


class ParkedCalls:
    """Calls waiting for a client's retry, by id; expired ones are cancelled."""

    def __init__(self, ttl_s: float = _TTL_S, *, worker: str | None = None) -> None:
        self._route = f"{worker}~" if worker else ""
        """Behind Envoy, `<worker_name>~` after the prefix: the edge sends the retry back to
        the worker holding the parked call (src/giru/xds/listeners.py)."""
        self._key = secrets.token_bytes(32)
        self._ttl_s = ttl_s
        self._ids = itertools.count(1)
        self._parked: dict[str, tuple[Run, float]] = {}

    def __len__(self) -> int:
        return len(self._parked)

    def next_key(self) -> str:
        return f"giru-{next(self._ids)}"

    def park(self, run: Run, binding: str) -> str:
        """Keep `run` until its client retries under `binding` (the text of the binding it
        was started under); returns the sealed requestState."""
        self.expire()
        if len(self._parked) >= _MAX_PARKED:
            run.task.cancel()
            raise JsonRpcError(-32603, "too many calls waiting for client input", http_status=503)
        call_id = secrets.token_urlsafe(12)
        expires = time.time() + self._ttl_s
        self._parked[call_id] = (run, expires)
        body = f"{self._route}{call_id}.{int(expires)}"
        return f"{STATE_PREFIX}{body}.{self._mac(body, binding)}"

    def resume(self, state: str, binding: str) -> Run:
        """The run a sealed state names, for the same `binding` only.

        Raises:
            RefusedValueError: another principal, endpoint, method or target, or tampered
                (reason `binding`); expired or already used (reason `expired`).
        """
        self.expire()
        body, _, mac = state[len(STATE_PREFIX) :].rpartition(".")
        call_id, _, _expires = body.rpartition("~")[2].partition(".")
        if not hmac.compare_digest(mac, self._mac(body, binding)):
            raise RefusedValueError(_KIND, "binding")
        parked = self._parked.pop(call_id, None)
        if parked is None:
            raise RefusedValueError(_KIND, "expired", "requestState expired or already used")
        return parked[0]

    def expire(self) -> None:
        now = time.time()
        for call_id, (run, expires) in list(self._parked.items()):
            if expires < now:
                del self._parked[call_id]
                run.task.cancel()

    def close(self) -> None:
        for run, _ in self._parked.values():
            run.task.cancel()
        self._parked.clear()

    def _mac(self, body: str, binding: str) -> str:
        digest = hmac.new(self._key, f"{body}|{binding}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]
