"""The call gate: policy and admission before the upstream, redaction after it, and durable
usage and audit records before the client hears the answer.

For tools/call: the OPA decision first (a denied call costs no rate or quota), then admission
(rate limits, quotas: one Redis round trip at most, none when the call has no limit), then the
upstream, then redaction per the decision. The usage record and the audit record go to their
spools with group commit, so a call the client saw succeed is never missing from either table,
even if this process is killed right after answering. prompts/get and resources/read pass the
decision and are audited, not metered.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, NamedTuple, Protocol

from opentelemetry.trace import Span

from giru.approvals import Verdict
from giru.audit import AuditRecord
from giru.errors import GiruError
from giru.limits import Limiter, admission_for
from giru.mcp import jsonrpc
from giru.mcp.jsonrpc import JsonRpcError, Message
from giru.metering import Outcome, UsageRecord, new_event_id
from giru.policy import Call, Decision, PolicyEngine, redact_result
from giru.proxy.consent import ClientChannel, Consent
from giru.proxy.endpoints import Principal
from giru.proxy.http import Request
from giru.proxy.refusals import (
    POLICY_DENIED,
    POLICY_UNAVAILABLE,
    QUOTA_EXCEEDED,
    RATE_LIMITED,
    approval_refusal,
    error_code,
    policy_refusal,
    refusal,
    unavailable,
)
from giru.proxy.trail import TRAIL, Trail, child_span

__all__ = [
    "INGRESS",
    "SPOOL_REASONS",
    "AuditSink",
    "CallGate",
    "Ingress",
    "Subject",
    "UsageSink",
    "identified",
    "policy_call",
]


class Ingress(NamedTuple):
    """The HTTP request being served, as policy, usage and audit see it."""

    event_id: str
    bytes_in: int
    source_ip: str | None = None
    tls: bool = False
    time_ns: int = 0


INGRESS: contextvars.ContextVar[Ingress | None] = contextvars.ContextVar(
    "giru_ingress", default=None
)
"""The request being served, set where it arrives; its event id is answered as the
`Giru-Request-Id` header and keys the usage and audit records."""


class Subject(NamedTuple):
    """What a governed request asks for, and through which endpoint and protocol."""

    method: str
    server: str
    target: str
    arguments: Mapping[str, Any]
    virtual_server: str | None
    protocol_version: str


SPOOL_REASONS: Final = frozenset(
    {"usage_spool_full", "usage_spool_unavailable", "audit_spool_full", "audit_spool_unavailable"}
)
"""`data.reason` of a refusal because records cannot be made durable (HTTP 503)."""
_UPSTREAM_REASONS: Final = frozenset(
    {"upstream_unavailable", "upstream_timeout", "upstream_protocol_error", "upstream_error"}
)


class UsageSink(Protocol):
    """Where usage records go (`giru.metering.UsageWriter`)."""

    def check_capacity(self) -> None:
        """Raise `GiruError` when no more records can be accepted (back-pressure)."""
        ...

    def submit(self, record: UsageRecord) -> asyncio.Future[None]:
        """Queue the record; the future is done once it is durable (its exception, or the one
        raised here: `GiruError`, it cannot be made durable)."""
        ...


class AuditSink(Protocol):
    """Where audit records go (`giru.audit.AuditLog`), with the usage records of the calls."""

    def check_capacity(self) -> None:
        """Raise `GiruError` when no more records can be accepted (back-pressure)."""
        ...

    def submit(self, record: AuditRecord, usage: UsageRecord | None = None) -> asyncio.Future[None]:
        """Queue the record and its call's `usage` record (one frame); the future is done once
        they are durable (its exception, or the one raised here: `GiruError`, they cannot be
        made durable)."""
        ...


Forward = Callable[[], Awaitable[dict[str, Any]]]
_REFUSALS: Final[Mapping[int, Outcome]] = {
    RATE_LIMITED: "rate_limited",
    QUOTA_EXCEEDED: "quota_exceeded",
    POLICY_DENIED: "policy_denied",
    POLICY_UNAVAILABLE: "policy_unavailable",
}


class CallGate:
    def __init__(
        self,
        limiter: Limiter,
        usage: UsageSink,
        *,
        node: str,
        policy: PolicyEngine | None = None,
        audit: AuditSink | None = None,
        consent: Consent | None = None,
    ) -> None:
        self._limiter = limiter
        self._usage = usage
        self._node = node
        self.policy = policy
        self.audit = audit
        self.consent = consent
        """Who approves the calls policy holds for a person (None: such calls are refused)."""

    async def run(
        self,
        caller: Principal | None,
        message: Message,
        subject: Subject,
        forward: Forward,
        channel: ClientChannel | None = None,
    ) -> dict[str, Any]:
        """Decide, admit, approve, forward, redact, record; the answer for the client (a refusal
        is an error answer). Only tools/call is admitted, approved and metered; `channel`
        reaches the calling client to ask for its approval."""
        metered = subject.method == "tools/call"
        try:
            if self.audit is not None:  # it takes the usage record too
                self.audit.check_capacity()
            elif metered:
                self._usage.check_capacity()
        except GiruError as exc:  # back-pressure: refuse before any upstream side effect
            raise unavailable(exc, message.id) from exc
        ingress = current_ingress()
        at, started = datetime.now(UTC), time.perf_counter()
        name = caller.name if caller is not None else "anonymous"
        _note_subject(subject)
        subscription = caller.subscription_for(subject.server, subject.target) if caller else None
        trail = TRAIL.get()
        decision, refusal = await self._decide(caller, subject, name, subscription, at, trail)
        verdict, refusal = await self._approve(name, subject, decision, refusal, channel)
        if refusal is not None:
            response = jsonrpc.error_response(message.id, *refusal)
        else:
            response = await forward()
            if decision is not None and decision.redact:
                response = _redacted(response, decision)
        trace_id = trail.trace_id if trail is not None else None
        usage: UsageRecord | None = None
        if metered:
            usage = self._usage_record(
                ingress, at, started, name, subscription, subject, message, response, refusal
            )
            _name_the_agent(usage, caller)
            usage["trace_id"] = trace_id
        if trail is not None:
            trail.outcome = _REFUSALS[refusal[0]] if refusal else outcome_of(response)
        if self.audit is not None:
            record = self._audit_record(ingress, at, name, subject, decision, response, refusal)
            _name_the_person(record, caller)
            _note_approval(record, verdict)
            if trace_id is not None:
                record["details"]["trace_id"] = trace_id
            submit, records = partial(self.audit.submit, record, usage), 1 + (usage is not None)
        elif usage is not None:
            submit, records = partial(self._usage.submit, usage), 1
        else:
            return response
        try:  # one frame; a cancelled caller's wait is cancelled, its records written all the same
            with child_span("durable record") as span:
                span.set_attribute("giru.records", records)
                await submit()
        except GiruError as exc:  # not durable: the answer must not claim a recorded call
            raise unavailable(exc, message.id) from exc
        return response

    async def _decide(
        self,
        caller: Principal | None,
        subject: Subject,
        name: str,
        subscription: str | None,
        at: datetime,
        trail: Trail | None,
    ) -> tuple[Decision | None, tuple[int, str, dict[str, Any]] | None]:
        """The policy decision (None without policy), then admission for tools/call: the
        refusal, or None when the call may go on."""
        decision: Decision | None = None
        if self.policy is not None:
            with child_span("policy decision") as span:
                call = policy_call(subject, name, subscription, caller)
                decision = await self.policy.decide(call)
                decided(span, trail, decision)
            if not decision.allow:
                return decision, policy_refusal(decision)
        if subject.method != "tools/call":
            return decision, None
        with child_span("limits admission") as span:
            refusal = await self._admit(caller, subscription, subject.server, subject.target, at)
            span.set_attribute("giru.admitted", refusal is None)
        return decision, refusal

    async def _approve(
        self,
        name: str,
        subject: Subject,
        decision: Decision | None,
        refusal: tuple[int, str, dict[str, Any]] | None,
        channel: ClientChannel | None,
    ) -> tuple[Verdict | None, tuple[int, str, dict[str, Any]] | None]:
        """A person's verdict on a tools/call policy holds for approval (None: not held) and
        the refusal unless approved; an already refused call is not held."""
        if refusal is not None or decision is None or not decision.approve:
            return None, refusal
        if subject.method != "tools/call":
            return None, None
        controls = [str(rule.get("control")) for rule in decision.approve]
        if self.consent is None:
            message = "Approval required, but this gateway has no approver; the call was not made"
            return None, (POLICY_DENIED, message, {"reason": "approval_unavailable"})
        with child_span("approval") as span:
            verdict = await self.consent.confirm(
                name, subject.server, subject.target, subject.arguments, controls, channel
            )
            span.set_attributes({"giru.approval": verdict.status, "giru.approval.via": verdict.via})
        if verdict.approved:
            return verdict, None
        return verdict, approval_refusal(subject.target, verdict)

    async def audit_rejection(
        self,
        actor: str,
        action: str,
        error: JsonRpcError,
        *,
        server: str | None = None,
        target: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Audit a request refused for bad input or credentials before any decision; return
        once durable (no audit log: nothing to do). `detail` (in `details.refusal`): why, beyond
        what the client heard.

        Raises:
            GiruError: the record could not be made durable (answer 503 instead).
        """
        if self.audit is None:
            return
        ingress = current_ingress()
        status = error.http_status
        if status == 401:
            outcome = "unauthenticated"
        elif status == 403:
            outcome = "forbidden"
        elif status == 429:
            outcome = "rate_limited"
        else:
            outcome = "error" if status >= 500 else "bad_request"
        record: AuditRecord = {
            "event_id": ingress.event_id,
            "at": datetime.now(UTC),
            "node": self._node,
            "actor": actor,
            "action": action[:64] or "http",
            "server": server,
            "target": target,
            "outcome": outcome,
            "reasons": [error.message[:500]],
            "policy_revision": None,
            "source_ip": ingress.source_ip,
            "details": {"status": error.code, "http_status": status},
        }
        if detail:
            record["details"]["refusal"] = detail[:500]
        trail = TRAIL.get()
        if trail is not None and trail.trace_id is not None:
            record["details"]["trace_id"] = trail.trace_id
        await self.audit.submit(record)

    def _usage_record(
        self,
        ingress: Ingress,
        at: datetime,
        started: float,
        client: str,
        subscription: str | None,
        subject: Subject,
        message: Message,
        response: dict[str, Any],
        refusal: tuple[int, str, dict[str, Any]] | None,
    ) -> UsageRecord:
        outcome = _REFUSALS[refusal[0]] if refusal else outcome_of(response)
        return {
            "event_id": ingress.event_id,
            "at": at,
            "node": self._node,
            "subscription": subscription,
            "client": client,
            "server": subject.server,
            "tool": subject.target,
            "request_id": jsonrpc.dumps(message.id).decode(),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "outcome": outcome,
            "status": error_code(response),
            "bytes_in": ingress.bytes_in,
            "bytes_out": len(jsonrpc.dumps(response)),
            "cost": None,
            "person": None,
            "agent": None,
            "trace_id": None,
        }

    def _audit_record(
        self,
        ingress: Ingress,
        at: datetime,
        client: str,
        subject: Subject,
        decision: Decision | None,
        response: dict[str, Any],
        refusal: tuple[int, str, dict[str, Any]] | None,
    ) -> AuditRecord:
        details: dict[str, Any] = {"status": error_code(response)}
        if decision is not None:
            if decision.recorded is not None:
                details["input"] = decision.recorded  # what `giru policy replay` decides again
            if decision.audit:
                details["policy"] = dict(decision.audit)
            if decision.alerts:
                details["alerts"] = list(decision.alerts)
            if decision.deny:
                details["violations"] = [
                    {"pack": r.get("pack"), "control": r.get("control")} for r in decision.deny
                ]
        if refusal is None:
            outcome, reasons = "allowed", []
            details["result"] = outcome_of(response)
        else:
            outcome = _REFUSALS[refusal[0]]
            reasons = decision.reasons if decision is not None and not decision.allow else []
            reasons = reasons or [refusal[1]]
        return {
            "event_id": ingress.event_id,
            "at": at,
            "node": self._node,
            "actor": client,
            "action": subject.method,
            "server": subject.server,
            "target": subject.target,
            "outcome": outcome,
            "reasons": reasons,
            "policy_revision": decision.revision if decision is not None else None,
            "source_ip": ingress.source_ip,
            "details": details,
        }

    async def _admit(
        self,
        caller: Principal | None,
        subscription: str | None,
        server: str,
        tool: str,
        now: datetime,
    ) -> tuple[int, str, dict[str, Any]] | None:
        if caller is None:
            return None
        limits = caller.limits_of(subscription) if subscription else None
        if caller.rate is None and (limits is None or limits.empty):
            return None  # nothing to check: no round trip
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
        return None if admission.allowed else refusal(admission)


def _note_subject(subject: Subject) -> None:
    trail = TRAIL.get()
    if trail is not None:
        trail.server = subject.server
        trail.tool = subject.target[:128] if subject.method == "tools/call" else trail.tool


def decided(span: Span, trail: Trail | None, decision: Decision) -> None:
    """The decision on the policy span and the request's trail: allow, deny or unavailable,
    and the rules that fired (pack and control, never a message: it may quote arguments)."""
    verdict = "unavailable" if decision.unavailable else "allow" if decision.allow else "deny"
    if trail is not None:
        trail.decision = verdict
    if not span.is_recording():
        return
    fired = [
        f"{rule.get('pack')}/{rule.get('control')}"[:128]
        for rule in (*decision.deny, *decision.redact, *decision.alerts)
    ]
    span.set_attributes({"giru.decision": verdict, "giru.policy.rules": fired[:32]})
    if decision.revision:
        span.set_attribute("giru.policy.revision", decision.revision[:64])


def identified(request: Request, body_bytes: int) -> str:
    """Give this request an event id (usage and audit records are keyed by it), answered as
    the `Giru-Request-Id` header (`giru.proxy.trail.answering`), so a client can match what it
    saw with what was recorded."""
    event_id = new_event_id()
    scope = request.scope
    client = scope.get("client")
    source = client[0] if client else None
    tls = scope.get("scheme") == "https"
    INGRESS.set(Ingress(event_id, body_bytes, source, tls, time.time_ns()))
    return event_id


def current_ingress() -> Ingress:
    """The request being served (one is made up, and kept, outside an HTTP request)."""
    ingress = INGRESS.get()
    if ingress is None:
        ingress = Ingress(new_event_id(), 0, time_ns=time.time_ns())
        INGRESS.set(ingress)
    return ingress


def _name_the_agent(record: UsageRecord, caller: Principal | None) -> None:
    """A person's call: the usage record names the person and the OAuth client apart."""
    person = getattr(caller, "person", None)
    if person is not None:
        record["person"] = person.label
        record["agent"] = getattr(caller, "agent", None)


def _note_approval(record: AuditRecord, verdict: Verdict | None) -> None:
    """A call held for approval: the audit record says who decided, how, and what."""
    if verdict is not None:
        record["details"]["approval"] = verdict.audit()


def _name_the_person(record: AuditRecord, caller: Principal | None) -> None:
    """A person's call: the audit record names them and the OAuth client acting for them
    (`actor` is `user:<email>`; `details.subject` and `details.client` say more)."""
    person = getattr(caller, "person", None)
    if person is None:
        return
    record["details"]["subject"] = {
        "id": person.subject,
        "issuer": person.issuer,
        "email": person.email,
        "groups": list(person.groups),
        "amr": list(person.amr),
        "auth_time": person.auth_time,
    }
    record["details"]["client"] = getattr(caller, "agent", None)


def policy_call(
    subject: Subject, client: str, subscription: str | None, caller: Principal | None = None
) -> Call:
    """The facts of one policy input document: `subject` over the request being served (and
    the person and OAuth client behind `caller`, when a person signed in)."""
    ingress = current_ingress()
    return Call(
        person=getattr(caller, "person", None),
        agent=getattr(caller, "agent", None),
        method=subject.method,
        server=subject.server,
        target=subject.target,
        arguments=subject.arguments,
        client=client,
        subscription=subscription,
        virtual_server=subject.virtual_server,
        request_id=ingress.event_id,
        source_ip=ingress.source_ip,
        tls=ingress.tls,
        time_ns=ingress.time_ns,
        protocol_version=subject.protocol_version,
    )


def _redacted(response: dict[str, Any], decision: Decision) -> dict[str, Any]:
    result = response.get("result")
    kinds = [
        str(r.get("kind"))
        for r in decision.redact
        if r.get("target", "result") == "result" and r.get("action", "mask") == "mask"
    ]
    if not isinstance(result, dict) or not kinds:
        return response
    masked, changed = redact_result(result, kinds)
    return {**response, "result": masked} if changed else response


def outcome_of(response: Mapping[str, Any]) -> Outcome:
    error = response.get("error")
    if isinstance(error, dict):
        data = error.get("data")
        reason = data.get("reason") if isinstance(data, dict) else None
        return "upstream_error" if reason in _UPSTREAM_REASONS else "error"
    result = response.get("result")
    return "tool_error" if isinstance(result, dict) and result.get("isError") else "ok"
