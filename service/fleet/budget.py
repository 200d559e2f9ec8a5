"""One upstream budget for the whole fleet: a token bucket in the store, per Voiceflow key.

Every web process and the warmer take a token before each upstream request. Background
work (refreshes, warming) also takes from its own bucket, refilled at a share of the rate,
and may not take the total bucket's last tokens: a user's cold miss goes first. A 429 from
Voiceflow sets a shared "paused until" that every process honours before its next request.

The bucket is a Script (Lua on Redis, its Python twin on the in-process store): both are
here, with the budget they implement, and the store only runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from service.errors import UpstreamRateLimited
from service.store.base import Store
from service.store.keys import NAMESPACE
from service.store.script import Script, ScriptArg, Space

log = logging.getLogger(__name__)

_background: contextvars.ContextVar[bool] = contextvars.ContextVar("background", default=False)


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Upstream requests made inside (and in tasks started inside) count as background."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


def is_background() -> bool:
    return _background.get()


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """What the token script needs; rates in tokens per second."""

    total: str
    background: str
    pause: str
    rate: float
    burst: float
    bg_rate: float
    bg_burst: float
    reserve: float  # tokens of the total bucket background work may not take

    @property
    def keys(self) -> list[str]:
        return [self.total, self.background, self.pause]

    def take_args(self, now: float, background: bool) -> list[ScriptArg]:
        """The script's ARGV: times in ms, rates per ms."""
        return [
            int(now * 1000),
            self.rate / 1000,
            self.burst,
            self.bg_rate / 1000,
            self.bg_burst,
            self.reserve,
            1 if background else 0,
        ]

    def scaled(self, share: float) -> BucketSpec:
        """The same bucket refilling at `share` of the rates (burst and reserve unchanged)."""
        return dataclasses.replace(self, rate=self.rate * share, bg_rate=self.bg_rate * share)


def budget_keys(api_key: str) -> tuple[str, str, str]:
    """Keys of one API key's budget; the key itself is hashed, never stored."""
    digest = hashlib.blake2b(api_key.encode(), digest_size=10).hexdigest()
    base = f"{NAMESPACE}:{{budget:{digest}}}"  # one hash tag: the script touches all three
    return f"{base}:total", f"{base}:background", f"{base}:paused"


class Budget:
    """Upstream tokens for one API key, shared by every process on the store.

    While the store is degraded (Redis unreachable, this process on its in-process store)
    the bucket is this process's alone, so it refills at `fallback_share` of the rates: the
    fleet together stays near the shared rate. The store only reports `degraded`; the
    scaled spec is chosen here, before each take (so the one take that finds Redis gone
    still asks for the full rate, from a fresh local bucket that grants it either way).
    """

    def __init__(
        self,
        store: Store,
        api_key: str,
        *,
        rate: float,
        burst: float,
        background_share: float,
        max_wait: float,
        fallback_share: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        total, bg, pause = budget_keys(api_key)
        self.spec = BucketSpec(
            total,
            bg,
            pause,
            rate,
            burst,
            rate * background_share,
            max(1.0, burst * background_share),
            reserve=min(burst - 1, burst * (1 - background_share)),
        )
        self._local_spec = self.spec.scaled(fallback_share)
        self._store = store
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._turns = {False: asyncio.Lock(), True: asyncio.Lock()}  # by "is background"

    async def acquire(self, deadline: float) -> float:
        """Wait for a token (the seconds waited are returned); raise UpstreamRateLimited when
        it would come too late.

        `deadline` is the caller's time.monotonic() bound; a user's request also never waits
        longer than max_wait (it is better served stale, or told to retry).
        """
        bg = is_background()
        limit = deadline if bg else min(deadline, time.monotonic() + self._max_wait)
        # One waiter per priority polls the bucket; the others queue behind it in arrival
        # order (asyncio.Lock is FIFO), so a long paginated query is not starved by newer ones.
        started = time.monotonic()
        async with self._turns[bg]:
            while True:
                wait = await self._take(bg)
                if wait <= 0:
                    return time.monotonic() - started
                if time.monotonic() + wait > limit:
                    raise UpstreamRateLimited(
                        "the upstream request budget is spent for now", retry_after=wait
                    )
                await self._sleep(wait)

    async def _take(self, bg: bool) -> float:
        """One token: 0.0 when granted, else the seconds to wait (nothing is taken then)."""
        spec = self._local_spec if self._store.degraded else self.spec
        wait_ms = await self._store.run(_TAKE, spec.keys, spec.take_args(self._clock(), bg))
        return int(wait_ms) / 1000

    async def pause(self, seconds: float) -> None:
        """Voiceflow said 429: no process sends with this key for `seconds`."""
        log.warning(
            "voiceflow rate limit: pausing upstream requests for %.0f s, fleet-wide", seconds
        )
        # The pause key expires when the pause ends, measured on the same clock as `until`.
        now = self._clock()
        until_ms = int((now + seconds) * 1000)
        await self._store.run(_PAUSE, [self.spec.pause], [until_ms, until_ms - int(now * 1000)])


class _Bucket(NamedTuple):
    """A bucket's hash in the memory key space: Lua's fields t and ts."""

    tokens: float
    at: float  # ms


_TTL_SLACK_MS = 1000  # a bucket outlives its refill time by this, so it is never cut short
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
    total, total_at = _level(space.get(keys[0]), now, rate, burst)
    need = 1 + float(argv[5]) if background else 1
    wait = math.ceil((need - total) / rate) if total < need else 0
    if background:
        bg_rate, bg_burst = float(argv[3]), float(argv[4])
        bg, bg_at = _level(space.get(keys[1]), now, bg_rate, bg_burst)
        if bg < 1:
            wait = max(wait, math.ceil((1 - bg) / bg_rate))
    if wait > 0:
        return wait
    # Stored as the Lua stores it, through tostring(), so both round alike.
    left = float(f"{total - 1:.{_LUA_DIGITS}g}")
    space.put(keys[0], _Bucket(left, total_at), (math.ceil(burst / rate) + _TTL_SLACK_MS) / 1000)
    if background:
        bg_left = float(f"{bg - 1:.{_LUA_DIGITS}g}")
        bg_ttl = (math.ceil(bg_burst / bg_rate) + _TTL_SLACK_MS) / 1000
        space.put(keys[1], _Bucket(bg_left, bg_at), bg_ttl)
    return 0


def _pause_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> int:
    if float(argv[0]) > _number(space.get(keys[0])):
        space.put(keys[0], argv[0].encode(), max(1, int(argv[1])) / 1000)
    return 0


# A token bucket per budget, in one script with the time passed in (managed Redis services
# reject TIME in scripts). KEYS: total, background, paused-until. Times in ms, rates per ms.
# Answers 0 when a token was taken, else the ms to wait; nothing is taken then.
_TAKE = Script(
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
)
# Moves "paused until" (ms) forward, never back. ARGV: until, ms until then (its TTL).
_PAUSE = Script(
    "budget.pause",
    """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(1, tonumber(ARGV[2])))
end
return 0
""",
    _pause_twin,
)
