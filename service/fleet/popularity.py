"""Decaying popularity of answers: what the warmer should keep fresh.

Each answered request bumps its answer's score by one, and every score halves each
`half_life`. Stored scores are kept in units of a moving base time (a bump at `now` adds
2^((now - base) / half_life)), so nothing has to decay in place; when that factor grows
large the set is rescaled and the base moves. The set is trimmed to the most popular
KEEP members, so scores cannot grow without bound and unpopular answers fall out.

Bumps are counted in memory and flushed in one round trip a second, so the hit path pays
a dict increment, nothing more; the pending counts are bounded too.

Bumping and reading are Scripts (Lua on Redis, their Python twins in memory), kept here
with the scoring they implement; the store only runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from service.store.base import Store
from service.store.keys import Keys
from service.store.script import Script, ScriptArg, Space

log = logging.getLogger(__name__)

FLUSH_EVERY = 1.0  # seconds between flushes: the warmer looks at minutes, not milliseconds
MAX_PENDING = 10_000  # distinct answers counted between flushes; beyond it, bumps are dropped
KEEP = 5_000  # answers scored; the warmer refreshes the top K of them (K is far smaller)
RESCALE_AT = 64.0  # half-lives past the base before scores are rescaled (2^64 is safe)


@dataclass(frozen=True, slots=True)
class PopularitySpec:
    """What the scripts need: the sorted set, its base time, the decay."""

    scores: str
    base: str
    half_life: float
    keep: int = KEEP
    rescale_at: float = RESCALE_AT

    @property
    def keys(self) -> list[str]:
        return [self.scores, self.base]


def member(kind: str, canonical: str) -> str:
    """The scored name of an answer: its kind and canonical question (the warmer parses it)."""
    return f"{kind}|{canonical}"


def parse_member(name: str) -> tuple[str, str]:
    kind, _, canonical = name.partition("|")
    return kind, canonical


class Popularity:
    def __init__(
        self, store: Store, keys: Keys, *, half_life: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.spec = PopularitySpec(keys.popularity, keys.popularity_base, half_life)
        self._store = store
        self._clock = clock
        self._pending: Counter[str] = Counter()

    def bump(self, kind: str, canonical: str) -> None:
        """Count one answer served; never waits, never fails."""
        name = member(kind, canonical)
        if name in self._pending or len(self._pending) < MAX_PENDING:
            self._pending[name] += 1

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, Counter()
        spec = self.spec
        args: list[ScriptArg] = [self._clock(), spec.half_life, spec.keep, spec.rescale_at]
        for name, count in pending.items():
            args += [name, count]
        await self._store.run(_BUMP, spec.keys, args)

    async def top(self, k: int) -> list[tuple[str, float]]:
        """The k most popular answers with their scores as of now (hits per half-life-ish)."""
        if k <= 0:
            return []  # ZREVRANGE 0 -1 would mean all of them
        raw_base, flat = await self._store.run(_TOP, self.spec.keys, [k - 1])
        base = float(raw_base) if raw_base else 0.0
        pairs = zip(flat[::2], flat[1::2], strict=True)  # WITHSCORES: member, score, ...
        scored = [(name.decode(), float(score)) for name, score in pairs]
        factor = math.pow(2.0, -(self._clock() - base) / self.spec.half_life) if scored else 1
        return [(name, score * factor) for name, score in scored]

    @contextlib.asynccontextmanager
    async def flushing(self) -> AsyncIterator[None]:
        """Flush every FLUSH_EVERY seconds while open, and once more on the way out.

        Stopped by an event, not a cancel, so a flush in progress is never cut in half."""
        stop = asyncio.Event()
        task = asyncio.create_task(self._run(stop), name="popularity-flush")
        try:
            yield
        finally:
            stop.set()
            await task

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_EVERY)
            try:
                await self.flush()
            except Exception as exc:  # popularity is advisory: never let it take anything down
                log.warning(
                    "popularity flush failed (%s); counts of this second lost", type(exc).__name__
                )


_REPLY_DIGITS = 17  # Redis replies a score with %.17g: every digit of the double


def _base(value: object) -> float | None:
    """The base time as Lua's tonumber(GET) reads it: None when absent or unreadable."""
    try:
        return float(value) if isinstance(value, bytes) else None
    except ValueError:
        return None


def _scores(space: Space, key: str) -> dict[str, float]:
    """The sorted set at `key` (member -> score); a new one when absent."""
    value = space.get(key)
    return value if isinstance(value, dict) else {}


def _bump_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> int:
    scores_key, base_key = keys
    now, half_life = float(argv[0]), float(argv[1])
    base = _base(space.get(base_key))
    if base is None:
        space.delete(scores_key)  # scores without their base cannot be read: start over
        base = now
        space.put(base_key, argv[0].encode())
    scores = _scores(space, scores_key)
    exponent = (now - base) / half_life
    if exponent > float(argv[3]):
        factor = math.pow(2, -exponent)
        for name in scores:
            scores[name] *= factor
        space.put(base_key, argv[0].encode())
        exponent = 0
    weight = math.pow(2, exponent)
    for name, count in zip(argv[4::2], argv[5::2], strict=True):
        scores[name] = scores.get(name, 0.0) + float(count) * weight
    # Lowest first, ties by name: the order ZREMRANGEBYRANK drops them in.
    for name in sorted(scores, key=lambda n: (scores[n], n))[: max(0, len(scores) - int(argv[2]))]:
        del scores[name]
    if scores:
        space.put(scores_key, scores)
    else:
        space.delete(scores_key)  # Redis keeps no empty sorted set
    return 0


def _top_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> list[object]:
    scores_key, base_key = keys
    scores = _scores(space, scores_key)
    # Highest first, ties by name descending: ZREVRANGE's order.
    best = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)
    flat: list[bytes] = []
    for name, score in best[: int(argv[0]) + 1]:
        flat += [name.encode(), f"{score:.{_REPLY_DIGITS}g}".encode()]
    base = space.get(base_key)
    return [base if isinstance(base, bytes) else b"", flat]


# Decaying popularity. KEYS: scores, base. ARGV: now, half-life, keep, rescale-at, then
# member/count pairs. Rescaling moves the base when weights grow large.
_BUMP = Script(
    "popularity.bump",
    """
local now, half_life = tonumber(ARGV[1]), tonumber(ARGV[2])
local base = tonumber(redis.call('GET', KEYS[2]) or '')
if not base then
  -- Scores without their base cannot be read: start over rather than misread them.
  redis.call('DEL', KEYS[1])
  base = now
  redis.call('SET', KEYS[2], ARGV[1])
end
local exponent = (now - base) / half_life
if exponent > tonumber(ARGV[4]) then
  local factor = math.pow(2, -exponent)
  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    redis.call('ZADD', KEYS[1], tonumber(all[i + 1]) * factor, all[i])
  end
  redis.call('SET', KEYS[2], ARGV[1])
  exponent = 0
end
local weight = math.pow(2, exponent)
for i = 5, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], tonumber(ARGV[i + 1]) * weight, ARGV[i])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
return 0
""",
    _bump_twin,
)
# The base time ('' when unset) and the top members with their scores, highest first, in
# one read that cannot fall between a bump's rescale of the set and of its base. ARGV: the
# last rank wanted (k - 1).
_TOP = Script(
    "popularity.top",
    """
local base = redis.call('GET', KEYS[2]) or ''
return {base, redis.call('ZREVRANGE', KEYS[1], 0, ARGV[1], 'WITHSCORES')}
""",
    _top_twin,
)
