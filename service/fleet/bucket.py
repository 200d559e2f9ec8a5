"""The fleet's token bucket as scripts: Lua on Redis, and its twin on the in-process store.

A bucket per budget, in one script with the time passed in (managed Redis services reject
TIME in scripts); a second script moves the shared "paused until" after a 429. The budget
(budget.py) decides when to take and what to do with the answer; this is only the atomic
arithmetic, written once for each store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from service.store.script import Script, Space


class _Bucket(NamedTuple):
    """A bucket's hash in the memory key space: Lua's fields t and ts."""

    tokens: float
    at: float  # ms


class _Head(NamedTuple):
    """The smallest user work waiting in the fleet (Lua's fields w, h, x): its size, the
    process holding it, and when the claim lapses (ms)."""

    work: float
    holder: bytes
    until: float


TTL_SLACK_MS = 1000  # a bucket outlives its refill time by this, so it is never cut short
_LUA_DIGITS = 14  # Lua's tostring() keeps this many significant digits (LUA_NUMBER_FMT)


def _number(value: object) -> float:
    """A string key read as Lua's tonumber(GET or '0') reads it."""
    return float(value) if isinstance(value, bytes) else 0.0


def _level(value: object, now: float, rate: float, burst: float) -> tuple[float, float]:
    """Tokens in a bucket at `now` and its new time: full when new, refilled up to burst."""
    if not isinstance(value, _Bucket):
        return burst, now
    tokens = value.tokens
    if now > value.at:
        tokens = min(burst, tokens + (now - value.at) * rate)
    return tokens, max(value.at, now)


def _take_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> int:
    now = float(argv[0])
    paused = _number(space.get(keys[2]))
    if paused > now:
        return int(paused - now)  # a Lua number replies as a truncated integer
    rate, burst, background = float(argv[1]), float(argv[2]), argv[6] == "1"
    work, me, hold = float(argv[7]), argv[8].encode(), float(argv[9])
    head = space.get(keys[3])
    sized = not background and work >= 0
    live = isinstance(head, _Head) and head.until > now and head.holder != me
    if sized and live and isinstance(head, _Head) and head.work < work:
        return max(1, math.ceil(min(head.until - now, 1 / rate)))  # a smaller one goes first
    total, total_at = _level(space.get(keys[0]), now, rate, burst)
    need = 1 + float(argv[5]) if background else 1
    wait = math.ceil((need - total) / rate) if total < need else 0
    if background:
        bg_rate, bg_burst = float(argv[3]), float(argv[4])
        bg, bg_at = _level(space.get(keys[1]), now, bg_rate, bg_burst)
        if bg < 1:
            wait = max(wait, math.ceil((1 - bg) / bg_rate))
    if sized:  # this is now the smallest user work waiting: others let it go first
        until = float(f"{now + wait + hold:.{_LUA_DIGITS}g}")
        space.put(keys[3], _Head(work, me, until), max(1, math.ceil(wait + hold)) / 1000)
    if wait > 0:
        return wait
    # Stored as the Lua stores it, through tostring(), so both round alike.
    left = float(f"{total - 1:.{_LUA_DIGITS}g}")
    space.put(keys[0], _Bucket(left, total_at), (math.ceil(burst / rate) + TTL_SLACK_MS) / 1000)
    if background:
        bg_left = float(f"{bg - 1:.{_LUA_DIGITS}g}")
        bg_ttl = (math.ceil(bg_burst / bg_rate) + TTL_SLACK_MS) / 1000
        space.put(keys[1], _Bucket(bg_left, bg_at), bg_ttl)
    return 0


def _pause_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> int:
    if float(argv[0]) > _number(space.get(keys[0])):
        space.put(keys[0], argv[0].encode(), max(1, int(argv[1])) / 1000)
        space.put(keys[1], _Bucket(0.0, float(argv[0])), (int(argv[1]) + int(argv[2])) / 1000)
    return 0


# A token bucket per budget, in one script with the time passed in (managed Redis services
# reject TIME in scripts). KEYS: total, background, paused-until, head. Times in ms, rates
# per ms. Answers 0 when a token was taken, else the ms to wait; nothing is taken then.
# A user's take states its work (ARGV[8], -1: unsized) and process (ARGV[9]): while a
# smaller work waits in another process (the head, claimed for ARGV[10] ms past its wait),
# a larger one is told to wait; else it claims the head, so the next tokens are its own.
TAKE = Script(
    "budget.take",
    """
local now = tonumber(ARGV[1])
local paused = tonumber(redis.call('GET', KEYS[3]) or '0')
if paused > now then return paused - now end
local function level(key, rate, burst)
  local v = redis.call('HMGET', key, 't', 'ts')
  local tokens, ts = tonumber(v[1]), tonumber(v[2])
  if not tokens then return burst, now end
  if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate) end
  return tokens, math.max(ts, now)
end
local rate, burst, background = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[7] == '1'
local work, hold = tonumber(ARGV[8]), tonumber(ARGV[10])
local sized = (not background) and work >= 0
if sized then
  local h = redis.call('HMGET', KEYS[4], 'w', 'h', 'x')
  local hw, hx = tonumber(h[1]), tonumber(h[3])
  if hw and hx > now and h[2] ~= ARGV[9] and hw < work then
    return math.max(1, math.ceil(math.min(hx - now, 1 / rate)))
  end
end
local total, total_ts = level(KEYS[1], rate, burst)
local need = 1
if background then need = 1 + tonumber(ARGV[6]) end
local wait = 0
if total < need then wait = math.ceil((need - total) / rate) end
local bg, bg_ts
if background then
  local bg_rate = tonumber(ARGV[4])
  bg, bg_ts = level(KEYS[2], bg_rate, tonumber(ARGV[5]))
  if bg < 1 then wait = math.max(wait, math.ceil((1 - bg) / bg_rate)) end
end
if sized then
  redis.call('HSET', KEYS[4], 'w', ARGV[8], 'h', ARGV[9], 'x', now + wait + hold)
  redis.call('PEXPIRE', KEYS[4], math.max(1, math.ceil(wait + hold)))
end
if wait > 0 then return wait end
local ttl = math.ceil(burst / rate) + 1000
redis.call('HSET', KEYS[1], 't', tostring(total - 1), 'ts', total_ts)
redis.call('PEXPIRE', KEYS[1], ttl)
if background then
  redis.call('HSET', KEYS[2], 't', tostring(bg - 1), 'ts', bg_ts)
  redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[5]) / tonumber(ARGV[4])) + 1000)
end
return 0
""",
    _take_twin,
    values=(_Bucket, _Head),
)
# Moves "paused until" (ms) forward, never back, and empties the total bucket as of then.
# KEYS: paused-until, total. ARGV: until, ms until then (its TTL), the bucket's refill ms.
PAUSE = Script(
    "budget.pause",
    """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(1, tonumber(ARGV[2])))
  redis.call('HSET', KEYS[2], 't', '0', 'ts', ARGV[1])
  redis.call('PEXPIRE', KEYS[2], math.max(1, tonumber(ARGV[2])) + tonumber(ARGV[3]))
end
return 0
""",
    _pause_twin,
    values=(_Bucket,),
)


def _peek_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> list[int]:
    now, rate, burst = float(argv[0]), float(argv[1]), float(argv[2])
    tokens, _at = _level(space.get(keys[0]), now, rate, burst)
    return [math.floor(tokens * 1000), int(_number(space.get(keys[1])))]


# What a metrics scrape shows, in one call: the tokens in the total bucket now (in
# thousandths) and the paused-until time (ms; 0: none). KEYS: total, paused. ARGV: now (ms),
# rate (per ms), burst. Nothing is written.
PEEK = Script(
    "budget.peek",
    """
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens, ts = tonumber(v[1]), tonumber(v[2])
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not tokens then tokens = burst elseif now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
end
return {math.floor(tokens * 1000), tonumber(redis.call('GET', KEYS[2]) or '0')}
""",
    _peek_twin,
    values=(_Bucket,),
)
