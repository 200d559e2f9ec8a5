"""One upstream budget for the whole fleet: a token bucket in the store, per Voiceflow key.

Every web process and the warmer take a token before each upstream request. Background
work (refreshes, warming) also takes from its own bucket, refilled at a share of the rate,
and may not take the total bucket's last tokens: a user's cold miss goes first. A 429 from
Voiceflow sets a shared "paused until" that every process honours before its next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from service.errors import UpstreamRateLimited
from service.store.base import Store
from service.store.keys import NAMESPACE

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
    """What the store's token script needs; rates in tokens per second."""

    total: str
    background: str
    pause: str
    rate: float
    burst: float
    bg_rate: float
    bg_burst: float
    reserve: float  # tokens of the total bucket background work may not take


def budget_keys(api_key: str) -> tuple[str, str, str]:
    """Keys of one API key's budget; the key itself is hashed, never stored."""
    digest = hashlib.blake2b(api_key.encode(), digest_size=10).hexdigest()
    base = f"{NAMESPACE}:{{budget:{digest}}}"  # one hash tag: the script touches all three
    return f"{base}:total", f"{base}:background", f"{base}:paused"


class Budget:
    def __init__(
        self,
        store: Store,
        api_key: str,
        *,
        rate: float,
        burst: float,
        background_share: float,
        max_wait: float,
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
                wait = await self._store.take_token(self.spec, self._clock(), bg)
                if wait <= 0:
                    return time.monotonic() - started
                if time.monotonic() + wait > limit:
                    raise UpstreamRateLimited(
                        "the upstream request budget is spent for now", retry_after=wait
                    )
                await self._sleep(wait)

    async def pause(self, seconds: float) -> None:
        """Voiceflow said 429: no process sends with this key for `seconds`."""
        log.warning(
            "voiceflow rate limit: pausing upstream requests for %.0f s, fleet-wide", seconds
        )
        await self._store.pause_until(self.spec.pause, self._clock() + seconds)
