"""The approval board shared by gateway workers through Redis, and `open_approvals`.

A ticket is a JSON string at `giru:approval:{id}` (expiring an hour after its own expiry), listed
in the sorted sets `giru:approvals` (by creation) and `giru:approvals:pending` (by expiry). The
waiting worker blocks on `giru:approval:{id}:verdict` (BLPOP, bounded by the ticket's expiry); a
decision from any worker is one script call that changes a pending ticket and pushes its status
there, so the first of approve, deny and expiry wins and a second decision is a conflict.

While it waits, the holding worker renews a lease, `giru:approval:{id}:holder` (a few seconds,
renewed three times a lease). A pending ticket whose lease has lapsed has lost its call (the
worker crashed, was restarted, or the caller went away): listing the queue or deciding it
settles it as expired, "the worker holding the call stopped", instead of leaving it pending
until its timeout; approving it would run nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from giru.approvals.board import (
    KEEP_DECIDED_S,
    MAX_PENDING,
    ApprovalBoard,
    LocalApprovals,
    ordered,
    settled,
)
from giru.approvals.tickets import Status, Ticket
from giru.errors import ConflictError, NotFoundError, StoreUnavailableError

__all__ = ["ABANDONED", "HOLDER_LEASE_S", "RedisApprovals", "open_approvals"]

_ALL: Final = "giru:approvals"
_PENDING: Final = "giru:approvals:pending"
_LISTED: Final = 2000
_TIMEOUT_S: Final = 5.0
HOLDER_LEASE_S: Final = 15.0
ABANDONED: Final = "the worker holding the call stopped before a decision"
_DECIDE: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local ticket = cjson.decode(raw)
if ticket['status'] ~= 'pending' then return {0, raw} end
local changed = 1
if ARGV[1] ~= 'expired' and redis.call('EXISTS', KEYS[4]) == 0 then
  ARGV[1], ARGV[2], ARGV[3] = 'expired', 'giru', ARGV[7]
  changed = 0
end
ticket['status'] = ARGV[1]
ticket['decided_by'] = ARGV[2]
if ARGV[3] ~= '' then ticket['reason'] = ARGV[3] end
ticket['decided_at'] = ARGV[4]
local out = cjson.encode(ticket)
redis.call('SET', KEYS[1], out, 'EX', ARGV[5])
redis.call('ZREM', KEYS[3], ARGV[6])
redis.call('DEL', KEYS[4])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {changed, out}
"""


def _key(ticket_id: str) -> str:
    return f"giru:approval:{ticket_id}"


def _holder(ticket_id: str) -> str:
    return f"{_key(ticket_id)}:holder"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ticket(raw: bytes | str) -> Ticket:
    data = orjson.loads(raw)
    if not isinstance(data.get("controls"), list):
        data["controls"] = []  # cjson writes an empty list as {}
    if not isinstance(data.get("extra"), dict):
        data["extra"] = {}
    return Ticket.from_json(data)


class RedisApprovals:
    def __init__(
        self, url: str, *, timeout_s: float = _TIMEOUT_S, lease_s: float = HOLDER_LEASE_S
    ) -> None:
        self._redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._blocking = Redis.from_url(url, socket_connect_timeout=timeout_s)
        self._timeout_s = timeout_s
        self._lease_ms = max(int(lease_s * 1000), 100)
        self._decide = self._redis.register_script(_DECIDE)

    async def open(self, ticket: Ticket) -> None:
        now = datetime.now(UTC).timestamp()
        keep = int((ticket.expires_at.timestamp() - now) + KEEP_DECIDED_S)
        try:
            await self._redis.zremrangebyscore(_PENDING, "-inf", now)
            if await self._redis.zcard(_PENDING) >= MAX_PENDING:
                raise ConflictError(
                    "too many calls are waiting for approval", code="approvals_full"
                )
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(_key(ticket.id), orjson.dumps(ticket.to_json()), ex=max(keep, 1))
                pipe.set(_holder(ticket.id), "1", px=self._lease_ms)
                pipe.zadd(_ALL, {ticket.id: ticket.created_at.timestamp()})
                pipe.zadd(_PENDING, {ticket.id: ticket.expires_at.timestamp()})
                pipe.zremrangebyscore(_ALL, "-inf", now - 2 * KEEP_DECIDED_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(f"approvals unavailable: {exc!r}") from exc

    async def wait(self, ticket_id: str) -> Ticket:
        ticket = await self._get(ticket_id)
        why = "no decision before the timeout"
        try:
            if not await self._hold(ticket_id, ticket.expires_at):
                why = ABANDONED
        except (RedisError, OSError):
            pass  # decided or not, the ticket says (expired below when still pending)
        try:
            return await self._settle(ticket_id, "expired", "giru", why)
        except ConflictError:
            return await self._get(ticket_id)

    async def _hold(self, ticket_id: str, expires_at: datetime) -> bool:
        """Wait for the verdict until `expires_at`, renewing this worker's lease on the call;
        False when the lease had lapsed (this worker stalled longer than a lease)."""
        verdict = f"{_key(ticket_id)}:verdict"
        while (left := (expires_at - datetime.now(UTC)).total_seconds()) > 0:
            # gone once decided, or when the holder stopped renewing it
            if not await self._redis.set(_holder(ticket_id), "1", px=self._lease_ms, xx=True):
                return bool(await self._redis.exists(verdict))
            step = min(left, self._lease_ms / 3000)
            async with asyncio.timeout(step + self._timeout_s):
                if await self._blocking.blpop([verdict], timeout=max(step, 0.01)) is not None:
                    return True
        return True

    async def decide(
        self, ticket_id: str, status: Status, actor: str, reason: str | None
    ) -> Ticket:
        return await self._settle(ticket_id, status, actor, reason)

    async def tickets(self) -> list[Ticket]:
        try:
            ids = await self._redis.zrevrange(_ALL, 0, _LISTED - 1)
            raws = await self._redis.mget([_key(_text(i)) for i in ids]) if ids else []
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(f"approvals unavailable: {exc!r}") from exc
        found = [_ticket(raw) for raw in raws if raw is not None]
        return ordered([await self._abandoned(t) for t in found])

    async def _abandoned(self, ticket: Ticket) -> Ticket:
        """`ticket`, settled as expired when it is pending and its holder's lease has lapsed."""
        if ticket.status != "pending":
            return ticket
        try:
            if await self._redis.exists(_holder(ticket.id)):
                return ticket
            return await self._settle(ticket.id, "expired", "giru", ABANDONED)
        except (ConflictError, NotFoundError):
            return ticket  # decided (or gone) meanwhile: listed as read
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(f"approvals unavailable: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._blocking.aclose()

    async def _get(self, ticket_id: str) -> Ticket:
        try:
            raw = await self._redis.get(_key(ticket_id))
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(f"approvals unavailable: {exc!r}") from exc
        if raw is None:
            raise NotFoundError(f"no approval {ticket_id!r}")
        return _ticket(raw)

    async def _settle(
        self, ticket_id: str, status: Status, actor: str, reason: str | None
    ) -> Ticket:
        keys = [_key(ticket_id), f"{_key(ticket_id)}:verdict", _PENDING, _holder(ticket_id)]
        args: list[Any] = [
            status,
            actor,
            reason or "",
            datetime.now(UTC).isoformat(),
            int(KEEP_DECIDED_S),
            ticket_id,
            ABANDONED,
        ]
        try:
            found = await self._decide(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(f"approvals unavailable: {exc!r}") from exc
        if found is None:
            raise NotFoundError(f"no approval {ticket_id!r}")
        changed, raw = found
        ticket = _ticket(raw)
        if not changed:
            raise settled(ticket)
        return ticket


def open_approvals(redis_url: str | None, *, lease_s: float = HOLDER_LEASE_S) -> ApprovalBoard:
    """The Redis board on `redis_url` (workers share it; a holder renews its lease on a call
    every `lease_s` / 3), or the in-process one without."""
    if redis_url:
        return RedisApprovals(redis_url, lease_s=lease_s)
    return LocalApprovals()
