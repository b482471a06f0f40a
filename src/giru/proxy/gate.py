"""The call gate for tools/call: admission (rate limits, quotas) before the upstream, and one
durable usage record per call before the client hears the answer.

Admission is one step (one Redis round trip at most, none when the call has no limit). The
record goes to the usage spool with group commit, so a call the client saw succeed is never
missing from the usage table, even if this process is killed right after answering.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from giru.errors import GiruError
from giru.limits import Admission, Limiter, admission_for
from giru.mcp import jsonrpc
from giru.mcp.jsonrpc import JsonRpcError, Message
from giru.metering import Outcome, UsageRecord, new_event_id
from giru.proxy.endpoints import Principal

__all__ = ["INGRESS", "QUOTA_EXCEEDED", "RATE_LIMITED", "CallGate", "UsageSink", "retry_after"]

RATE_LIMITED: Final = -31429
QUOTA_EXCEEDED: Final = -31430
INGRESS: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "giru_ingress", default=None
)
"""(event id, request body bytes) of the HTTP request being served, set where it arrives; the
event id is answered as the `Giru-Request-Id` header and keys the usage record."""

_UPSTREAM_REASONS: Final = frozenset(
    {"upstream_unavailable", "upstream_timeout", "upstream_protocol_error", "upstream_error"}
)


class UsageSink(Protocol):
    """Where usage records go (`giru.metering.UsageWriter`)."""

    def check_capacity(self) -> None:
        """Raise `GiruError` when no more records can be accepted (back-pressure)."""
        ...

    async def record(self, record: UsageRecord) -> None:
        """Return once the record is durable."""
        ...


Forward = Callable[[], Awaitable[dict[str, Any]]]


class CallGate:
    def __init__(self, limiter: Limiter, usage: UsageSink, *, node: str) -> None:
        self._limiter = limiter
        self._usage = usage
        self._node = node

    async def run(
        self, caller: Principal | None, message: Message, route: tuple[str, str], forward: Forward
    ) -> dict[str, Any]:
        """Admit, forward, record; the answer for the client (a refusal is an error answer)."""
        try:
            self._usage.check_capacity()
        except GiruError as exc:  # back-pressure: refuse before any upstream side effect
            raise _unavailable(exc, message) from exc
        event_id, bytes_in = INGRESS.get() or (new_event_id(), 0)
        at, started = datetime.now(UTC), time.perf_counter()
        server, tool = route
        subscription, refusal = await self._admit(caller, server, tool, at)
        outcome: Outcome
        if refusal is not None:
            response = jsonrpc.error_response(message.id, *refusal)
            outcome = "rate_limited" if refusal[0] == RATE_LIMITED else "quota_exceeded"
        else:
            response = await forward()
            outcome = outcome_of(response)
        record: UsageRecord = {
            "event_id": event_id,
            "at": at,
            "node": self._node,
            "subscription": subscription,
            "client": caller.name if caller is not None else "anonymous",
            "server": server,
            "tool": tool,
            "request_id": jsonrpc.dumps(message.id).decode(),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "outcome": outcome,
            "status": _error_code(response),
            "bytes_in": bytes_in,
            "bytes_out": len(jsonrpc.dumps(response)),
            "cost": None,
        }
        try:
            await self._usage.record(record)
        except GiruError as exc:  # not durable: the answer must not claim a metered call
            raise _unavailable(exc, message) from exc
        return response

    async def _admit(
        self, caller: Principal | None, server: str, tool: str, now: datetime
    ) -> tuple[str | None, tuple[int, str, dict[str, Any]] | None]:
        if caller is None:
            return None, None
        subscription = caller.subscription_for(server, tool)
        limits = caller.limits_of(subscription) if subscription else None
        if caller.rate is None and (limits is None or limits.empty):
            return subscription, None  # nothing to check: no round trip
        quota = None
        if limits is not None and (limits.per_day is not None or limits.per_month is not None):
            quota = (limits.per_day, limits.per_month)
        request = admission_for(
            subscription,
            limits.rate if limits else None,
            caller.name,
            caller.rate,
            tool,
            limits.tools.get(tool) if limits else None,
            quota,
            now,
        )
        admission = await self._limiter.admit(request)
        return subscription, None if admission.allowed else refusal(admission)


def _unavailable(exc: GiruError, message: Message) -> JsonRpcError:
    data = {"reason": exc.code}
    text = f"Service unavailable: {exc.message}"
    return JsonRpcError(jsonrpc.INTERNAL_ERROR, text, id=message.id, data=data, http_status=503)


def refusal(admission: Admission) -> tuple[int, str, dict[str, Any]]:
    """The JSON-RPC error (code, message, data) for a denied admission."""
    if admission.reason == "rate_limited":
        data: dict[str, Any] = {"reason": "rate_limited", "limit": admission.limit}
        code, message = RATE_LIMITED, "Rate limit exceeded"
    else:
        period, value = admission.limit, int(admission.value)
        data = {"reason": admission.reason, "period": period, "limit": value}
        code, message = QUOTA_EXCEEDED, "Quota exceeded"
    data["retryAfterMs"] = admission.retry_after_ms
    return code, message, data


def outcome_of(response: Mapping[str, Any]) -> Outcome:
    error = response.get("error")
    if isinstance(error, dict):
        data = error.get("data")
        reason = data.get("reason") if isinstance(data, dict) else None
        return "upstream_error" if reason in _UPSTREAM_REASONS else "error"
    result = response.get("result")
    return "tool_error" if isinstance(result, dict) and result.get("isError") else "ok"


def retry_after(response: Mapping[str, Any]) -> bytes | None:
    """The `Retry-After` value (whole seconds, rounded up) of a limit refusal, else None."""
    code = _error_code(response)
    if code not in (RATE_LIMITED, QUOTA_EXCEEDED):
        return None
    data = response["error"].get("data") or {}
    return str(max(1, math.ceil(int(data.get("retryAfterMs", 1000)) / 1000))).encode()


def _error_code(response: Mapping[str, Any]) -> int | None:
    error = response.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None
