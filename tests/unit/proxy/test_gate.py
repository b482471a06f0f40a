"""The call gate: admission before the upstream, a durable usage record before the answer."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime
from typing import Any

import pytest

from giru.access import ClientDirectory
from giru.access.apikeys import sha256_hash
from giru.access.clients import ClientPrincipal
from giru.audit import AuditRecord, AuditSpoolError, AuditSpoolFullError
from giru.errors import GiruError
from giru.identity import Person
from giru.limits import LocalLimiter
from giru.manifests.config import ClientConfig, Config, ServerConfig, SubscriptionConfig
from giru.manifests.documents import SubscriptionSpec
from giru.mcp.jsonrpc import JsonRpcError, parse_message
from giru.metering import SpoolError, SpoolFullError, UsageRecord
from giru.proxy.gate import INGRESS, CallGate, Ingress, Subject
from giru.proxy.refusals import QUOTA_EXCEEDED, RATE_LIMITED, retry_after

CALL = parse_message(
    b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"kit__echo"}}'
)
OK = {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "hi"}]}}
SUBJECT = Subject("tools/call", "kit", "echo", {}, None, "2025-06-18")


def settled(failure: GiruError | None = None) -> asyncio.Future[None]:
    """A submitted record's future: durable, or `failure` (its write failed)."""
    durable = asyncio.get_running_loop().create_future()
    if failure is None:
        durable.set_result(None)
    else:
        durable.set_exception(failure)
    return durable


class Disk:
    """Where a sink's records go: `slow`, its writes stay pending (`waiting`, `writing` set)."""

    def __init__(self) -> None:
        self.slow = False
        self.waiting: list[asyncio.Future[None]] = []
        self.writing = asyncio.Event()

    def pending(self) -> asyncio.Future[None]:
        self.waiting.append(asyncio.get_running_loop().create_future())
        self.writing.set()
        return self.waiting[-1]


class Usage(Disk):
    """An in-memory usage sink that can be made full (it refuses records) or broken (its writes
    fail)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[UsageRecord] = []
        self.full = False
        self.broken = False

    def check_capacity(self) -> None:
        if self.full:
            raise SpoolFullError("usage spool is full")

    def submit(self, record: UsageRecord) -> asyncio.Future[None]:
        if self.full:
            raise SpoolFullError("usage spool is full")
        if self.slow:
            return self.pending()
        if self.broken:
            return settled(SpoolError("the usage spool could not write"))
        self.records.append(record)
        return settled()


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return OK


async def alice(**spec: Any) -> ClientPrincipal:
    fields = {"client": "alice", "server": "kit", "scopeType": "all", "status": "active"}
    sub = SubscriptionConfig("alice-kit", SubscriptionSpec.model_validate({**fields, **spec}))
    config = Config(
        servers={"kit": ServerConfig("kit", "stdio", command="kit")},
        clients={"alice": ClientConfig("alice", api_key_hash=sha256_hash("giru_alice-key"))},
        subscriptions={"alice-kit": sub},
    )
    principal = await ClientDirectory.from_config(config).authenticate("giru_alice-key")
    assert isinstance(principal, ClientPrincipal)
    return principal


@pytest.fixture
def usage() -> Usage:
    return Usage()


@pytest.fixture
def gate(usage: Usage) -> CallGate:
    return CallGate(LocalLimiter("UTC"), usage, node="unit")


async def test_an_admitted_call_is_forwarded_then_recorded(gate: CallGate, usage: Usage) -> None:
    upstream = Upstream()
    INGRESS.set(Ingress("0190-event", 99))
    response = await gate.run(await alice(), CALL, SUBJECT, upstream)
    assert response == OK
    assert upstream.calls == 1
    [record] = usage.records
    assert record["event_id"] == "0190-event"
    assert (record["client"], record["subscription"], record["server"], record["tool"]) == (
        "alice",
        "alice-kit",
        "kit",
        "echo",
    )
    assert (record["outcome"], record["status"], record["request_id"]) == ("ok", None, "7")
    assert record["bytes_in"] == 99
    assert record["bytes_out"] > 0
    assert record["at"].tzinfo == UTC
    assert record["at"] <= datetime.now(UTC)
    assert (record["person"], record["agent"]) == (None, None)  # an API key: nobody signed in


async def test_a_persons_call_is_recorded_with_the_person_and_the_agent_apart(
    gate: CallGate, usage: Usage
) -> None:
    person = Person("https://idp.example", "sub-carol", email="carol@hospital.example")
    caller = ClientPrincipal(
        "user:carol@hospital.example", all_servers=True, person=person, agent="cursor"
    )
    INGRESS.set(Ingress("0190-person", 10))
    await gate.run(caller, CALL, SUBJECT, Upstream())
    [record] = usage.records
    assert (record["client"], record["person"], record["agent"]) == (
        "user:carol@hospital.example",
        "carol@hospital.example",
        "cursor",
    )


async def test_a_rate_limited_call_never_reaches_the_upstream(gate: CallGate, usage: Usage) -> None:
    upstream, principal = Upstream(), await alice(rateLimitRps=1, burst=2)
    answers = [await gate.run(principal, CALL, SUBJECT, upstream) for _ in range(3)]
    assert upstream.calls == 2
    refused = answers[2]["error"]
    assert refused["code"] == RATE_LIMITED
    assert refused["data"]["reason"] == "rate_limited"
    assert refused["data"]["limit"] == "subscription"
    assert refused["data"]["retryAfterMs"] > 0
    assert retry_after(answers[2]) == b"1"
    assert [r["outcome"] for r in usage.records] == ["ok", "ok", "rate_limited"]


async def test_a_quota_refuses_the_call_after_the_last_one_allowed(gate: CallGate) -> None:
    upstream, principal = Upstream(), await alice(quotaPerDay=2)
    answers = [await gate.run(principal, CALL, SUBJECT, upstream) for _ in range(3)]
    assert upstream.calls == 2
    assert answers[2]["error"]["code"] == QUOTA_EXCEEDED
    assert answers[2]["error"]["data"]["period"] == "day"
    assert retry_after(answers[0]) is None


async def test_a_full_spool_refuses_before_the_upstream_with_503(
    gate: CallGate, usage: Usage
) -> None:
    upstream = Upstream()
    usage.full = True
    with pytest.raises(JsonRpcError) as refused:
        await gate.run(await alice(), CALL, SUBJECT, upstream)
    assert refused.value.http_status == 503
    assert refused.value.data == {"reason": "usage_spool_full"}
    assert upstream.calls == 0


async def test_an_unrecorded_call_is_not_answered_as_a_success(
    gate: CallGate, usage: Usage
) -> None:
    usage.broken = True
    with pytest.raises(JsonRpcError) as refused:
        await gate.run(await alice(), CALL, SUBJECT, Upstream())
    assert refused.value.http_status == 503


async def test_anonymous_calls_are_recorded_without_admission(gate: CallGate, usage: Usage) -> None:
    INGRESS.set(None)
    assert await gate.run(None, CALL, SUBJECT, Upstream()) == OK
    [record] = usage.records
    assert (record["client"], record["subscription"]) == ("anonymous", None)
    assert len(record["event_id"]) == 36


class Audit(Disk):
    """An in-memory audit sink that can be made full, or broken (its writes fail); `usage`: the
    usage records that came with the audit records (one frame each)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[AuditRecord] = []
        self.usage: list[UsageRecord] = []
        self.full = False
        self.broken = False

    def check_capacity(self) -> None:
        if self.full:
            raise AuditSpoolFullError("audit spool is full")

    def submit(self, record: AuditRecord, usage: UsageRecord | None = None) -> asyncio.Future[None]:
        if self.full:
            raise AuditSpoolFullError("audit spool is full")
        if self.broken:
            return settled(AuditSpoolError("the audit spool could not write"))
        if self.slow:
            return self.pending()
        self.records.append(record)
        self.usage += [usage] if usage is not None else []
        return settled()


async def test_every_call_leaves_an_audit_record_keyed_like_its_usage_record(
    usage: Usage,
) -> None:
    audit = Audit()
    gate = CallGate(LocalLimiter("UTC"), usage, node="unit", audit=audit)
    principal = await alice(rateLimitRps=1, burst=1)
    INGRESS.set(Ingress("0190-a", 10, "10.0.0.7"))
    await gate.run(principal, CALL, SUBJECT, Upstream())
    INGRESS.set(Ingress("0190-b", 10, "10.0.0.7"))
    await gate.run(principal, CALL, SUBJECT, Upstream())
    allowed, limited = audit.records
    assert (allowed["event_id"], allowed["outcome"], allowed["reasons"]) == (
        "0190-a",
        "allowed",
        [],
    )
    assert (allowed["actor"], allowed["action"], allowed["target"]) == (
        "alice",
        "tools/call",
        "echo",
    )
    assert allowed["source_ip"] == "10.0.0.7"
    assert (limited["event_id"], limited["outcome"]) == ("0190-b", "rate_limited")
    assert [r["event_id"] for r in audit.usage] == ["0190-a", "0190-b"]  # in the same frames
    assert [r["outcome"] for r in audit.usage] == ["ok", "rate_limited"]
    assert usage.records == []  # the usage spool is not written when the audit log carries them


async def test_a_full_audit_spool_refuses_before_the_upstream_with_503(usage: Usage) -> None:
    audit, upstream = Audit(), Upstream()
    audit.full = True
    gate = CallGate(LocalLimiter("UTC"), usage, node="unit", audit=audit)
    with pytest.raises(JsonRpcError) as refused:
        await gate.run(await alice(), CALL, SUBJECT, upstream)
    assert refused.value.http_status == 503
    assert refused.value.data == {"reason": "audit_spool_full"}
    assert upstream.calls == 0
    assert usage.records == audit.usage == []


async def test_with_an_audit_log_a_full_usage_spool_refuses_nothing(usage: Usage) -> None:
    audit = Audit()
    usage.full = True  # a spool left by an earlier version, its drain behind
    gate = CallGate(LocalLimiter("UTC"), usage, node="unit", audit=audit)
    assert await gate.run(await alice(), CALL, SUBJECT, Upstream()) == OK
    assert len(audit.usage) == 1


async def test_a_call_whose_audit_record_cannot_be_made_durable_is_answered_503(
    usage: Usage,
) -> None:
    audit, upstream = Audit(), Upstream()
    audit.broken = True
    gate = CallGate(LocalLimiter("UTC"), usage, node="unit", audit=audit)
    with pytest.raises(JsonRpcError) as refused:
        await gate.run(await alice(), CALL, SUBJECT, upstream)
    assert refused.value.http_status == 503
    assert refused.value.data == {"reason": "audit_spool_unavailable"}
    assert upstream.calls == 1
    assert usage.records == audit.usage == []  # the usage record shared the failed frame


async def test_a_failed_record_write_leaves_no_exception_unretrieved(usage: Usage) -> None:
    unseen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: unseen.append(context))
    audit = Audit()
    audit.broken = True
    gate = CallGate(LocalLimiter("UTC"), usage, node="unit", audit=audit)
    try:
        with pytest.raises(JsonRpcError) as refused:
            await gate.run(await alice(), CALL, SUBJECT, Upstream())
        answered = refused.value.data
        del refused  # its traceback holds the future
        await asyncio.sleep(0)  # one loop turn: done callbacks run
        gc.collect()  # a future whose exception nobody retrieved reports it when collected
    finally:
        loop.set_exception_handler(None)
    assert answered == {"reason": "audit_spool_unavailable"}
    assert unseen == []


async def test_a_caller_that_goes_away_while_its_records_are_written_stops_waiting(
    usage: Usage,
) -> None:
    audit = Audit()
    usage.slow = audit.slow = True
    gate = CallGate(LocalLimiter("UTC"), usage, node="unit", audit=audit)
    running = asyncio.get_running_loop().create_task(
        gate.run(await alice(), CALL, SUBJECT, Upstream())
    )
    await audit.writing.wait()  # the call's records submitted (one frame)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert usage.waiting == []
    [wait] = audit.waiting
    assert wait.cancelled()  # the spool writes the records all the same
