"""The limiter's Redis Lua scripts, and `Script`: EVALSHA, loading the script on NOSCRIPT.

`ADMIT` checks every GCRA limit and the quota counters and, only if all allow, updates them all
(one round trip, atomic). It reads the clock with `TIME` (effects replication, the default since
Redis 7), so workers with skewed clocks agree. Numbers go back to Redis through
`string.format('%d')`: Lua's number-to-string conversion would lose digits of µs timestamps.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from giru.limits.resp import RespClient
from giru.limits.wire import RespNoScriptError

__all__ = [
    "ADMIT",
    "ADMIT_ALLOWED",
    "ADMIT_DAY",
    "ADMIT_MONTH",
    "ADMIT_RATE",
    "RECONCILE",
    "Script",
]

ADMIT_ALLOWED: Final = 0
ADMIT_RATE: Final = 1
ADMIT_DAY: Final = 2
ADMIT_MONTH: Final = 3

ADMIT: Final = """
-- KEYS[1..n]: GCRA TAT keys; then, with a quota, the day and month counters.
-- ARGV[1]: now in µs ("" = Redis TIME); ARGV[2]: "interval burst interval burst ..." of the n
-- limits (interval in µs); with a quota, ARGV[3..6]: per_day, per_month (-1 = none), and the
-- day and month counters' expire-at (Unix s).
-- Returns {status, limit index, wait µs, day count, month count}; status 0 admitted, 1 rate
-- limited, 2 day quota, 3 month quota. Nothing is written unless every check passes.
if redis.replicate_commands then redis.replicate_commands() end
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local params = {}
for number in string.gmatch(ARGV[2], '%d+') do params[#params + 1] = tonumber(number) end
local n = #params / 2
local values = redis.call('MGET', unpack(KEYS))
local tats = {}
local worst, worst_wait = 0, 0
for i = 1, n do
  local interval = params[2 * i - 1]
  local tat = tonumber(values[i]) or 0
  if tat < now then tat = now end
  tat = tat + interval
  local wait = tat - params[2 * i] * interval - now
  if wait > worst_wait then worst, worst_wait = i, wait end
  tats[i] = tat
end
local quota = #KEYS > n
local day, month = 0, 0
if quota then
  day = tonumber(values[n + 1]) or 0
  month = tonumber(values[n + 2]) or 0
  local per_day, per_month = tonumber(ARGV[3]), tonumber(ARGV[4])
  if per_day >= 0 and day >= per_day then return {2, 0, 0, day, month} end
  if per_month >= 0 and month >= per_month then return {3, 0, 0, day, month} end
end
if worst > 0 then return {1, worst, worst_wait, day, month} end
for i = 1, n do
  local ttl = math.ceil((tats[i] - now) / 1000)
  redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', string.format('%d', ttl))
end
if quota then
  day = redis.call('INCR', KEYS[n + 1])
  redis.call('EXPIREAT', KEYS[n + 1], ARGV[5])
  month = redis.call('INCR', KEYS[n + 2])
  redis.call('EXPIREAT', KEYS[n + 2], ARGV[6])
end
return {0, 0, 0, day, month}
"""

RECONCILE: Final = """
-- KEYS: quota counters; ARGV[2i-1], ARGV[2i]: the database's count and the expire-at (Unix s)
-- of counter i. Raises a counter to the count, never lowers it. Returns how many were raised.
local raised = 0
for i = 1, #KEYS do
  local count = tonumber(ARGV[2 * i - 1])
  if count > (tonumber(redis.call('GET', KEYS[i])) or 0) then
    redis.call('SET', KEYS[i], ARGV[2 * i - 1])
    redis.call('EXPIREAT', KEYS[i], ARGV[2 * i])
    raised = raised + 1
  end
end
return raised
"""


class Script:
    """A Lua script run with EVALSHA; loaded with SCRIPT LOAD when Redis does not know it (first
    use, or after a restart flushed the script cache)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, client: RespClient, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await client.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except RespNoScriptError:
            sha: bytes = await client.execute("SCRIPT", "LOAD", self.source)
            self.sha = sha.decode()
            return await client.execute("EVALSHA", self.sha, len(keys), *keys, *args)
