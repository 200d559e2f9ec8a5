"""One acting warmer among many: a renewed lease in the store, and a heartbeat.

Every warmer process runs the scheduler; only the holder of the leader lease acts. The
holder renews at a third of the lease; it counts itself leader only while its last renewal
is younger than the lease minus a safety margin, so a paused or partitioned leader stops
acting before another can have taken over. A killed leader's lease lapses within its TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator

import orjson

from service.store.base import Store
from service.store.keys import Keys

log = logging.getLogger(__name__)

SAFETY = 0.2  # share of the lease a leader gives up early, for clock drift and slow renewals


class Leader:
    def __init__(
        self, store: Store, keys: Keys, *, lease: float, heartbeat: float, heartbeat_ttl: float
    ) -> None:
        self._store = store
        self._keys = keys
        self._lease = lease
        self._beat = heartbeat
        self._beat_ttl = heartbeat_ttl
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # The lease's value names its holder (for the status page), with a random part.
        self._token = f"{self.id}#{secrets.token_hex(8)}"
        self._renewed_at = -1e18  # monotonic time of the last successful acquire/renew
        self.since: float | None = None  # wall time this process became leader

    @property
    def acting(self) -> bool:
        """True only while the lease is surely still ours."""
        return time.monotonic() - self._renewed_at < self._lease * (1 - SAFETY)

    async def step(self) -> None:
        """Renew the lease if ours, else try to take it; then write the heartbeat.

        Renewal is tried first even when this process no longer counts itself leader: a slow
        reply may have left our token in place. Times are taken before the round trip, since
        the lease's TTL starts when Redis runs the command, not when the reply arrives.
        """
        key = self._keys.warmer_leader
        was = self.acting
        try:
            started = time.monotonic()
            if await self._store.renew([key], self._token, self._lease):
                self._renewed_at = started
                if not was:
                    self.since = self.since or time.time()
            else:
                (held_elsewhere,) = await self._store.acquire([key], self._token, self._lease)
                if not held_elsewhere:
                    self._renewed_at, self.since = started, time.time()
                    log.warning("warmer %s is now the leader", self.id)
                elif was:
                    log.warning("warmer %s lost the leader lease", self.id)
                    self._renewed_at, self.since = -1e18, None
            beat = {"at": time.time(), "id": self.id, "leader": self.acting}
            await self._store.set(self._keys.warmer_heartbeat, orjson.dumps(beat), self._beat_ttl)
        except Exception as exc:  # the store is down: not acting is the safe answer
            self._renewed_at, self.since = -1e18, None
            log.warning("warmer %s could not reach the store (%s)", self.id, type(exc).__name__)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Step every min(lease/3, heartbeat) while open; give the lease up on the way out."""
        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(self._lease / 3, self._beat))

        task = asyncio.create_task(loop(), name="warmer-leader")
        try:
            yield
        finally:
            stop.set()
            await task
            if self.acting:
                with contextlib.suppress(Exception):
                    await self._store.release([self._keys.warmer_leader], self._token)
