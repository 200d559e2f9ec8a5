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
import dataclasses
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from service import metrics
from service.errors import UpstreamRateLimited
from service.fleet import bucket, queue
from service.fleet.priority import PRIORITY_POLL_SECONDS, current
from service.fleet.queue import Turns
from service.fleet.rate import FLOOR_SHARE, probing
from service.store.base import Store
from service.store.keys import NAMESPACE
from service.store.script import ScriptArg

log = logging.getLogger(__name__)

HEAD_HOLD_MS = 1000  # the fleet's smallest waiting work keeps its claim this long past a take


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """What the token script needs; rates in tokens per second."""

    total: str
    background: str
    pause: str
    head: str
    rate: float
    burst: float
    bg_rate: float
    bg_burst: float
    reserve: float  # tokens of the total bucket background work may not take

    @property
    def keys(self) -> list[str]:
        return [self.total, self.background, self.pause, self.head]

    def take_args(
        self, now: float, background: bool, work: float = -1, holder: str = ""
    ) -> list[ScriptArg]:
        """The script's ARGV: times in ms, rates per ms; `work` -1 when unsized."""
        # The head is held past a grant while its holder's next page is on its way: no
        # longer than the bucket takes to fill, so tokens are never lost to it.
        hold = min(HEAD_HOLD_MS, math.ceil(self.burst / self.rate * 1000))
        return [
            int(now * 1000),
            self.rate / 1000,
            self.burst,
            self.bg_rate / 1000,
            self.bg_burst,
            self.reserve,
            1 if background else 0,
            f"{work:g}",
            holder,
            hold,
        ]

    def scaled(self, share: float) -> BucketSpec:
        """The same bucket refilling at `share` of the rates (burst and reserve unchanged)."""
        return dataclasses.replace(self, rate=self.rate * share, bg_rate=self.bg_rate * share)


def budget_keys(api_key: str) -> tuple[str, str, str, str, str]:
    """Keys of one API key's budget (buckets, pause, learned rate, head of the queue); the
    key is hashed."""
    digest = hashlib.blake2b(api_key.encode(), digest_size=10).hexdigest()
    base = f"{NAMESPACE}:{{budget:{digest}}}"  # one hash tag: scripts touch them together
    names = ("total", "background", "paused", "rate", "head")
    total, bg, paused, rate, head = (f"{base}:{name}" for name in names)
    return total, bg, paused, rate, head


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
        rate_max: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        total, bg, pause, learned, head = budget_keys(api_key)
        self.learned = probing(store, learned, start=rate, maximum=rate_max, clock=clock)
        self.spec = BucketSpec(
            total,
            bg,
            pause,
            head,
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
        self._turns = {False: Turns(), True: Turns()}  # by "is background"
        self._me = secrets.token_hex(8)  # this process, as the fleet's queue head names it

    async def acquire(self, deadline: float | None = None) -> float:
        """Wait for a token; the seconds waited are returned.

        With no deadline (a fetch: it goes on whether or not anyone still waits for it) it
        waits as long as the budget needs. With one (a time.monotonic() bound), it raises
        UpstreamRateLimited when the token would come too late, and a user never waits past
        max_wait. The priority is read again at every poll: a fetch a user joins moves to
        the users' queue, and one nobody waits for any more moves behind them.
        """
        priority = current()
        started = time.monotonic()
        while True:
            bg = not priority.is_user()
            limit = deadline
            if deadline is not None and not bg:
                limit = min(deadline, started + self._max_wait)
            # One waiter per priority polls the bucket; the others queue behind it, the least
            # work first (queue.py): a week's fetch does not wait behind a quarter's pages.
            work = queue.remaining()
            async with self._turns[bg].turn(work, priority.clients):
                while True:
                    wait = await self._take(bg, work)
                    if wait <= 0:
                        waited = time.monotonic() - started
                        metrics.BUDGET_WAIT.labels(priority.label()).observe(waited)
                        return waited
                    if limit is not None and time.monotonic() + wait > limit:
                        raise UpstreamRateLimited(
                            "the upstream request budget is spent for now", retry_after=wait
                        )
                    # A derived priority may change meanwhile: look again soon.
                    await self._sleep(wait if priority.fixed else min(wait, PRIORITY_POLL_SECONDS))
                    if priority.is_user() == bg:
                        break  # raised or lowered while waiting: queue again at the new one

    async def _take(self, bg: bool, work: float) -> float:
        """One token: 0.0 when granted, else the seconds to wait (nothing is taken then)."""
        spec = self._local_spec if self._store.degraded else self.spec
        if self.learned is not None:  # the bucket refills at the learned rate
            spec = spec.scaled(await self.learned.current() / self.spec.rate)
        args = spec.take_args(self._clock(), bg, work, self._me)
        wait_ms = await self._store.run(bucket.TAKE, spec.keys, args)
        if self.learned is not None:
            self.learned.took(int(wait_ms), user=not bg)
        return int(wait_ms) / 1000

    async def level(self) -> tuple[float, float]:
        """(tokens in the fleet's bucket now, paused-until as Unix time or 0): one call."""
        spec = self.spec.scaled(await self.rate() / self.spec.rate)
        args: list[ScriptArg] = [int(self._clock() * 1000), spec.rate / 1000, spec.burst]
        milli, paused_ms = await self._store.run(bucket.PEEK, [spec.total, spec.pause], args)
        return int(milli) / 1000, int(paused_ms) / 1000

    async def rate(self) -> float:
        """Upstream requests a second the fleet sends now: learned, or as configured."""
        return await self.learned.current() if self.learned is not None else self.spec.rate

    async def observe(self, status: int) -> None:
        """Voiceflow answered `status` (a 429 also calls pause): a 200 lets a learned rate rise."""
        if self.learned is not None and status == 200:
            await self.learned.on_success()

    async def pause(self, seconds: float) -> None:
        """Voiceflow said 429: no process sends with this key for `seconds`."""
        log.warning(
            "voiceflow rate limit: pausing upstream requests for %.0f s, fleet-wide", seconds
        )
        # The pause key expires when the pause ends, measured on the same clock as `until`.
        now = self._clock()
        until_ms = int((now + seconds) * 1000)
        # The bucket is emptied as of the pause's end: resuming with a full burst would run
        # straight into the limit again (Voiceflow's bucket refilled no faster than ours).
        # At the slowest the bucket refills: a learned rate may be as low as its floor.
        slowest = self.spec.rate * (FLOOR_SHARE if self.learned is not None else 1.0)
        refill_ms = math.ceil(self.spec.burst / slowest * 1000) + bucket.TTL_SLACK_MS
        await self._store.run(
            bucket.PAUSE,
            [self.spec.pause, self.spec.total],
            [until_ms, until_ms - int(now * 1000), refill_ms],
        )
        if self.learned is not None:
            await self.learned.on_429(seconds)
