"""How Giru refuses a call it does not make: the JSON-RPC error codes and answers for policy
denials, approvals not given, limits, and records that cannot be made durable."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from giru.approvals import Verdict
from giru.errors import GiruError
from giru.limits import Admission
from giru.mcp import jsonrpc
from giru.mcp.jsonrpc import JsonRpcError
from giru.policy import Decision

__all__ = [
    "POLICY_DENIED",
    "POLICY_UNAVAILABLE",
    "QUOTA_EXCEEDED",
    "RATE_LIMITED",
    "approval_refusal",
    "error_code",
    "internal_error",
    "policy_refusal",
    "refusal",
    "retry_after",
    "unavailable",
]

RATE_LIMITED: Final = -31429
QUOTA_EXCEEDED: Final = -31430
POLICY_DENIED: Final = -31403
POLICY_UNAVAILABLE: Final = -31503


def policy_refusal(decision: Decision) -> tuple[int, str, dict[str, Any]]:
    """The JSON-RPC error for a call policy did not allow: the reasons a client may see."""
    if decision.unavailable is not None:
        data: dict[str, Any] = {"reason": "policy_unavailable"}
        return POLICY_UNAVAILABLE, "Policy decision unavailable; the call was not made", data
    violations = [
        {"pack": r.get("pack"), "control": r.get("control"), "message": r.get("message")}
        for r in decision.deny
    ]
    summary = "; ".join(str(v["message"]) for v in violations[:3]) or "not allowed by policy"
    data = {"reason": "policy_denied", "violations": violations}
    return POLICY_DENIED, f"Denied by policy: {summary}", data


def approval_refusal(tool: str, verdict: Verdict) -> tuple[int, str, dict[str, Any]]:
    """The JSON-RPC error for a call a person did not approve (denied, or no answer in time)."""
    data: dict[str, Any] = {"reason": f"approval_{verdict.status}", "via": verdict.via}
    if verdict.ticket is not None:
        data["approval"] = verdict.ticket
    if verdict.status == "expired":
        text = f"Not approved: no decision on {tool} in time; the call was not made"
    else:
        by = f" by {verdict.by}" if verdict.by else ""
        why = f": {verdict.reason}" if verdict.reason else ""
        text = f"Not approved: {tool} was denied{by}{why}; the call was not made"
    return POLICY_DENIED, text[:500], data


def unavailable(exc: GiruError, id: Any) -> JsonRpcError:
    """The 503 answer for a request whose records cannot be made durable (a spool is full)."""
    data = {"reason": exc.code}
    text = f"Service unavailable: {exc.message}"
    return JsonRpcError(jsonrpc.INTERNAL_ERROR, text, id=id, data=data, http_status=503)


def internal_error(id: Any) -> JsonRpcError:
    """The answer for a call that failed inside Giru (a bug, or a value it cannot encode): the
    details are in the log, never in the answer."""
    data = {"reason": "internal_error"}
    return JsonRpcError(jsonrpc.INTERNAL_ERROR, "Internal error", id=id, data=data, http_status=500)


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


def retry_after(response: Mapping[str, Any]) -> bytes | None:
    """The `Retry-After` value (whole seconds, rounded up) of a limit refusal, else None."""
    code = error_code(response)
    if code not in (RATE_LIMITED, QUOTA_EXCEEDED):
        return None
    data = response["error"].get("data") or {}
    return str(max(1, math.ceil(int(data.get("retryAfterMs", 1000)) / 1000))).encode()


def error_code(response: Mapping[str, Any]) -> int | None:
    error = response.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None
