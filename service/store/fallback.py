"""A shared store (Redis, PostgreSQL) while it answers, the in-process store while it does not.

A store that is down or slow must neither hang nor fail requests: each command has a short
timeout, and the first failure switches this process to its in-process store until a probe
finds the shared one again. Nothing waits on a dead store twice. Meanwhile `degraded` is
True, so the upstream budget spends only this process's share (the budget decides that, not
this). An error the store answers about one command (a WRONGTYPE, a script's error) is not
"down": that call alone is answered from the in-process store, and the process stays put.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from service.store.base import Errors, Store
from service.store.leases import ScriptedLeases
from service.store.memory import MemoryStore
from service.store.script import Script, ScriptArg

log = logging.getLogger(__name__)

T = TypeVar("T")

PROBE_EVERY = 1.0  # seconds between pings while degraded: recovery within about this long
# Releases made while degraded, given back to the shared store when it answers again. Past
# this many the oldest go: their leases there (15 s TTL, not renewed meanwhile) have lapsed.
OWED_RELEASES = 4096


class Primary(Store, Protocol):
    """What a store FallbackStore stands in for says of its errors, and its lifecycle."""

    # Unreachable, slow, or refusing writes: this process cannot use the store now.
    DOWN: ClassVar[Errors]
    # Every connection of this process's pool in use for its whole wait: this process is
    # busy (a burst of cold asks), which says nothing about the store.
    BUSY: ClassVar[Errors]
    # The store answered, with an error about this one command.
    REFUSED: ClassVar[Errors]

    async def drop_idle_connections(self) -> None: ...

    async def start(self) -> None:
        """Begin listening for notifications; raises one of DOWN when the store is down."""

    async def close(self) -> None: ...


class FallbackStore(ScriptedLeases):
    """Every primitive on the shared store, or on the local one while degraded; leases and
    scripts alike go through `run`. It knows nothing of what the scripts do: a caller sharing a
    fleet-wide quota reads `degraded` and asks for its local share itself (see Budget)."""

    def __init__(self, primary: Primary, local: MemoryStore) -> None:
        self._shared = primary
        self.kind = primary.kind
        self._local = local
        self._probe: asyncio.Task[None] | None = None
        self._owed: deque[tuple[list[str], str]] = deque(maxlen=OWED_RELEASES)
        self.degraded = False

    @property
    def primary(self) -> Primary:
        """The shared store itself, for what must never fall back (the warmer's leader lease)."""
        return self._shared

    async def _call(
        self, on_shared: Callable[[], Awaitable[T]], on_local: Callable[[], Awaitable[T]]
    ) -> T:
        while not self.degraded:
            try:
                return await on_shared()
            except self._shared.BUSY:
                # Every connection in use for its wait: this process is busy, not the store
                # down. Queue again, unless the commands holding them failed meanwhile and
                # sent the process degraded.
                continue
            except self._shared.DOWN as exc:
                self._degrade(exc)
            except self._shared.REFUSED as exc:
                # The store answered, with an error about this command (a WRONGTYPE, a
                # script's error): not a reason to leave it for every other command, nor a
                # 500. This one call is answered from the in-process store (a value it cannot
                # read is a miss, refetched and written over), and the error is logged.
                self._refused(exc)
                break
        return await on_local()

    def _degrade(self, exc: BaseException) -> None:
        if self.degraded:
            return
        log.error(
            "%s unreachable (%s): serving from the in-process store until it is back",
            self.kind,
            type(exc).__name__,
        )
        self.degraded = True
        self._probe = asyncio.create_task(self._recover(), name="store-probe")

    async def _recover(self) -> None:
        while True:
            await asyncio.sleep(PROBE_EVERY)
            try:
                # Connections left idle by the outage may be dead: on a restarted store each
                # would fail its next command and send the process back here, once per
                # connection. Nothing else uses them while degraded; reconnect them all.
                await self._shared.drop_idle_connections()
                await self._shared.ping()
                await self._release_owed()
            except (*self._shared.DOWN, *self._shared.BUSY):
                continue
            except Exception as exc:  # a client's bug mid-failover must not end the probing
                log.error(
                    "%s probe failed (%s: %s); probing on", self.kind, type(exc).__name__, exc
                )
                continue
            log.warning("%s is back: leaving the in-process store", self.kind)
            self._local.clear()  # what it held may be older than the shared copy
            self.degraded = False
            return

    async def release(self, keys: Sequence[str], token: str) -> int:
        released = await super().release(keys, token)
        if self.degraded:
            # Released in memory only: a lease its holder took on the shared store before the
            # outage still holds there, and would keep the fleet waiting out its TTL once it
            # is back. Owed to it until then (compare-and-delete: a lease since taken by
            # another holder is left alone).
            self._owed.append((list(keys), token))
        return released

    async def _release_owed(self) -> None:
        """Give back to the shared store what was released while degraded, before anyone can
        wait on it (a waiter is woken by a notification, not by a lease lapsing)."""
        while self._owed:
            keys, token = self._owed[0]
            try:
                await self._shared.release(keys, token)
            except self._shared.DOWN:
                raise  # down again: the rest wait for the next probe
            except self._shared.REFUSED as exc:  # about this call alone: that lease lapses
                self._refused(exc)
            self._owed.popleft()

    def _refused(self, exc: BaseException) -> None:
        log.error("%s refused a command (%s: %s)", self.kind, type(exc).__name__, exc)

    async def get(self, key: str) -> bytes | None:
        return await self._call(lambda: self._shared.get(key), lambda: self._local.get(key))

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._call(lambda: self._shared.mget(keys), lambda: self._local.mget(keys))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._call(
            lambda: self._shared.set(key, value, ttl), lambda: self._local.set(key, value, ttl)
        )

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        await self._call(lambda: self._shared.set_many(items), lambda: self._local.set_many(items))

    async def expires_in(self, keys: Sequence[str]) -> list[float | None]:
        return await self._call(
            lambda: self._shared.expires_in(keys), lambda: self._local.expires_in(keys)
        )

    async def delete(self, *keys: str) -> None:
        await self._call(lambda: self._shared.delete(*keys), lambda: self._local.delete(*keys))

    async def notify(self, key: str) -> None:
        # Local waiters are woken either way; other processes only through the shared store.
        await self._call(lambda: self._shared.notify(key), lambda: self._local.notify(key))

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self._local.watch(key)  # both stores wake the same Watchers

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        return await self._call(
            lambda: self._shared.run(script, keys, args),
            lambda: self._local.run(script, keys, args),
        )

    async def ping(self) -> None:
        """Never fails: a shared store that does not answer switches this process to degraded."""
        await self._call(self._shared.ping, self._local.ping)

    async def start(self) -> None:
        try:
            await self._shared.start()
        except self._shared.DOWN as exc:
            self._degrade(exc)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self._shared.close()
