"""The fleet's upstream rate, learned by probing (AIMD) when UPSTREAM_RATE_MAX_PER_SECOND is set.

Voiceflow does not document its rate limit, so a fixed rate is either too low (needless
503s) or too high (429s). With a maximum set, the fleet starts at the configured rate and:

- rises additively, by INCREASE_SHARE of the configured rate per second of sending while
  the budget held users back (the rate is what limits) and Voiceflow answered 200. The rise
  is measured on the clock between successes reported by any process, never counted per
  request or per process, so one process or fifty climb alike; a rate nobody presses is no
  evidence, so it does not drift up while idle. Below RECOVER_TO of the rate the last
  halving started from, it climbs RECOVERY_SPEEDUP times as fast: that rate was nearly fine,
  and time spent far under it is capacity lost (the idea of TCP BIC/CUBIC's fast recovery);
- halves on a 429, never below FLOOR_SHARE of the configured rate, once per 429 episode: a
  429 to a request sent before the last halving's pause ended was sent at the old rate (or
  raced that pause), so it is the same episode, however many processes see it.

The rate is one hash beside the token bucket, in its hash tag, changed only by one script
(Lua on Redis, its twin in memory), so every process of every machine learns together.
Each process reads it at most once per CACHE_SECONDS: no extra round trip per token.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from service.store.base import Store
from service.store.script import Script, ScriptArg, Space

# A rise of 5% of the configured rate per second: from 10 to 25 req/s in 30 s, and slow enough
# that the rate is only a little past the limit when Voiceflow's burst runs out and a 429 comes.
INCREASE_SHARE = 0.05
# Two halvings below the configured rate: finds a limit up to 4x lower than configured, while
# 429s caused by another client of the same key cannot starve the fleet (pauses handle those).
FLOOR_SHARE = 0.25
# After a halving, climb 4x as fast back to 85% of the rate refused: about 5 s instead of 20
# from L/2, so the average stays near the limit; then probe past it at the normal step.
RECOVERY_SPEEDUP = 4.0
RECOVER_TO = 0.85
CREDIT_CAP_SECONDS = 1.0  # a longer gap between successes is not sustained sending
PRESSURE_SECONDS = 1.0  # a success counts only this soon after the budget held a take back
# A process reports success at most this often: the rise follows the clock, so fewer reports
# lose nothing, and Redis sees a few calls a second per process, not one per request.
REPORT_SECONDS = 0.25
CACHE_SECONDS = 1.0  # how stale a process's copy of the rate may be
# What was learned outlives restarts and quiet spells, not a day without any upstream request.
LEARNED_TTL_SECONDS = 86400
_LUA_DIGITS = 14  # Lua's tostring() keeps this many significant digits

# When this task's last token was granted: a 429's request was sent then.
_sent_at: contextvars.ContextVar[float | None] = contextvars.ContextVar("sent_at", default=None)


def probing(
    store: Store, key: str, *, start: float, maximum: float | None, clock: Callable[[], float]
) -> LearnedRate | None:
    """The learned rate when a maximum is set; None otherwise: the rate stays as configured."""
    return (
        None
        if maximum is None
        else LearnedRate(store, key, start=start, maximum=maximum, clock=clock)
    )


class LearnedRate:
    """The rate every process of the fleet sends at, per Voiceflow key, while probing."""

    def __init__(
        self,
        store: Store,
        key: str,
        *,
        start: float,
        maximum: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key, self.start, self.maximum = key, start, maximum
        self.floor = start * FLOOR_SHARE
        self._store = store
        self._clock = clock
        self._step_per_ms = start * INCREASE_SHARE / 1000  # req/s gained per ms of success
        self._rate, self._read_at = start, -math.inf
        self._pressed_at = self._reported_at = -math.inf

    async def current(self) -> float:
        """The fleet's rate now (req/s), read from the store at most once per CACHE_SECONDS."""
        if self._clock() - self._read_at >= CACHE_SECONDS:
            await self._run("get")
        return self._rate

    def took(self, wait: float, *, user: bool) -> None:
        """The bucket answered a take: granted (wait 0; the request goes out now), or held a
        user's request back: the fleet's rate is what limits now, so a 200 soon is evidence.
        (A background take may be held back by its own smaller bucket: no evidence.)"""
        if wait <= 0:
            _sent_at.set(self._clock())
        elif user:
            self._pressed_at = self._clock()

    async def on_success(self) -> None:
        """Voiceflow answered 200: while pressed, credit the time since the last success."""
        now = self._clock()
        if now - self._pressed_at > PRESSURE_SECONDS or now - self._reported_at < REPORT_SECONDS:
            return
        self._reported_at = now
        cap_ms, fast = int(CREDIT_CAP_SECONDS * 1000), self._step_per_ms * RECOVERY_SPEEDUP
        await self._run("up", self._step_per_ms, cap_ms, fast, RECOVER_TO)

    async def on_429(self, pause: float) -> None:
        """Voiceflow answered 429 and the fleet pauses `pause` s: halve, once per episode."""
        sent = _sent_at.get()
        now = self._clock()
        await self._run("down", int((now if sent is None else sent) * 1000), int(pause * 1000))

    async def status(self) -> dict[str, Any]:
        """What `GET /api/warmer/status` shows: the rate now, its bounds, what 429s did."""
        _, halvings, refused = await self._run("get")
        return {
            "rate_per_second": round(self._rate, 2),
            "configured_per_second": self.start,
            "max_per_second": self.maximum,
            "floor_per_second": self.floor,
            "halvings": halvings,
            "last_halved_from": float(refused) if refused else None,
        }

    async def _run(self, op: str, *extra: ScriptArg) -> tuple[float, int, bytes]:
        # Where nothing is stored yet, start from what this process last knew: the configured
        # rate at first, the fleet's learned rate when Redis is lost and the twin takes over.
        now = self._clock()
        args: list[ScriptArg] = [int(now * 1000), op, self._rate, self.maximum, self.floor]
        raw, halvings, refused = await self._store.run(_ADJUST, [self.key], [*args, *extra])
        self._rate, self._read_at = float(raw), now
        return self._rate, int(halvings), bytes(refused)


class _Learned(NamedTuple):
    """The rate's hash in the memory key space: Lua's fields r, at, quiet, n, top."""

    rate: float
    at: float  # ms: successes before this are credited already
    quiet: float  # ms: 429s to requests sent before this belong to the last halving
    halvings: int
    refused: bytes  # the rate the last halving started from, as Lua spelled it ("" if none)


def _spelled(value: float) -> bytes:
    """A number as Lua's tostring() spells it."""
    return f"{value:.{_LUA_DIGITS}g}".encode()


def _adjust_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> list[Any]:
    now, op = float(argv[0]), argv[1]
    start, maximum, floor = float(argv[2]), float(argv[3]), float(argv[4])
    held = space.get(keys[0])
    if isinstance(held, _Learned):
        rate, at, quiet, halvings, refused = held
    else:
        rate, at, quiet, halvings, refused = start, now, 0.0, 0, b""
    rate = min(maximum, max(floor, rate))
    if op == "up":
        credit = min(max(0.0, now - at), float(argv[6]))
        target = float(refused) * float(argv[8]) if refused else None
        if target is not None and rate < target:
            rate = min(target, rate + credit * float(argv[7]))
        else:
            rate = min(maximum, rate + credit * float(argv[5]))
        at = max(at, now)
    elif op == "down" and float(argv[5]) >= quiet:
        refused = _spelled(rate)
        rate = max(floor, rate / 2)
        quiet = now + float(argv[6])
        at, halvings = quiet, halvings + 1
    rate = float(_spelled(rate))  # stored and answered as Lua spells it, so both round alike
    if op != "get":
        space.put(keys[0], _Learned(rate, at, quiet, halvings, refused), LEARNED_TTL_SECONDS)
    return [_spelled(rate), halvings, refused]


# KEYS: the learned rate's hash. ARGV: now (ms), op, rate if none is stored, maximum, floor; for
# "up" the rise per ms of success, the longest gap credited (ms), the faster rise and the
# share of the last refused rate it applies below; for "down" when the refused request was
# sent (ms) and the pause that follows (ms). Answers the rate (spelled as tostring), the
# halvings so far and the rate the last one started from ("" if none).
_ADJUST = Script(
    "rate.adjust",
    f"""
local now, op = tonumber(ARGV[1]), ARGV[2]
local start, maximum, floor = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'r', 'at', 'quiet', 'n', 'top')
local rate, at, quiet = tonumber(v[1]) or start, tonumber(v[2]) or now, tonumber(v[3]) or 0
local n, top = tonumber(v[4]) or 0, v[5] or ''
rate = math.min(maximum, math.max(floor, rate))
if op == 'up' then
  local credit = math.min(math.max(0, now - at), tonumber(ARGV[7]))
  local target = tonumber(top)
  if target then target = target * tonumber(ARGV[9]) end
  if target and rate < target then
    rate = math.min(target, rate + credit * tonumber(ARGV[8]))
  else
    rate = math.min(maximum, rate + credit * tonumber(ARGV[6]))
  end
  at = math.max(at, now)
elseif op == 'down' and tonumber(ARGV[6]) >= quiet then
  top = tostring(rate)
  rate = math.max(floor, rate / 2)
  quiet = now + tonumber(ARGV[7])
  at, n = quiet, n + 1
end
rate = tostring(rate)
if op ~= 'get' then
  redis.call('HSET', KEYS[1], 'r', rate, 'at', at, 'quiet', quiet, 'n', n, 'top', top)
  redis.call('PEXPIRE', KEYS[1], {LEARNED_TTL_SECONDS * 1000})
end
return {{rate, n, top}}
""",
    _adjust_twin,
    values=(_Learned,),
)
