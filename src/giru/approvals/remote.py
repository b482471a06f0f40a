"""The approval board shared by gateway workers through Redis, and `open_approvals`.

A ticket is a JSON string at `giru:approval:{id}` (expiring an hour after its own expiry), listed
in the sorted sets `giru:approvals` (by creation) and `giru:approvals:pending` (by expiry). The
waiting worker blocks on `giru:approval:{id}:verdict` (BLPOP, bounded by the ticket's expiry); a
decision from any worker is one script call that changes a pending ticket and pushes its status
there, so the first of approve, deny and expiry wins and a second decision is a conflict.
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

__all__ = ["RedisApprovals", "open_approvals"]

_ALL: Final = "giru:approvals"
_PENDING: Final = "giru:approvals:pending"
_LISTED: Final = 2000
_TIMEOUT_S: Final = 5.0
_DECIDE: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local ticket = cjson.decode(raw)
if ticket['status'] ~= 'pending' then return {0, raw} end
ticket['status'] = ARGV[1]
ticket['decided_by'] = ARGV[2]
if ARGV[3] ~= '' then ticket['reason'] = ARGV[3] end
ticket['decided_at'] = ARGV[4]
local out = cjson.encode(ticket)
redis.call('SET', KEYS[1], out, 'EX', ARGV[5])
redis.call('ZREM', KEYS[3], ARGV[6])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {1, out}
"""


def _key(ticket_id: str) -> str:
    return f"giru:approval:{ticket_id}"


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
    def __init__(self, url: str, *, timeout_s: float = _TIMEOUT_S) -> None:
        self._redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._blocking = Redis.from_url(url, socket_connect_timeout=timeout_s)
        self._timeout_s = timeout_s
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
                pipe.zadd(_ALL, {ticket.id: ticket.created_at.timestamp()})
                pipe.zadd(_PENDING, {ticket.id: ticket.expires_at.timestamp()})
                pipe.zremrangebyscore(_ALL, "-inf", now - 2 * KEEP_DECIDED_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(f"approvals unavailable: {exc!r}") from exc

    async def wait(self, ticket_id: str) -> Ticket:
        ticket = await self._get(ticket_id)
        left = (ticket.expires_at - datetime.now(UTC)).total_seconds()
        verdict = f"{_key(ticket_id)}:verdict"
        try:
            if left > 0:  # a timeout of 0 would block for ever
                async with asyncio.timeout(left + self._timeout_s):
                    await self._blocking.blpop([verdict], timeout=max(left, 0.01))
        except (RedisError, OSError):
            pass  # decided or not, the ticket says (expired below when still pending)
        try:
            return await self._settle(
                ticket_id, "expired", "giru", "no decision before the timeout"
            )
        except ConflictError:
            return await self._get(ticket_id)

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
        return ordered(_ticket(raw) for raw in raws if raw is not None)

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
        keys = [_key(ticket_id), f"{_key(ticket_id)}:verdict", _PENDING]
        args: list[Any] = [
            status,
            actor,
            reason or "",
            datetime.now(UTC).isoformat(),
            int(KEEP_DECIDED_S),
            ticket_id,
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


def open_approvals(redis_url: str | None) -> ApprovalBoard:
    """The Redis board on `redis_url` (workers share it), or the in-process one without."""
    if redis_url:
        return RedisApprovals(redis_url)
    return LocalApprovals()
