"""The shared store's protocol: the few primitives every other layer builds on.

Redis in production, an in-process stand-in otherwise, and Redis-with-fallback in between
all speak it: bytes values with TTLs, leases with tokens, a "this key is done"
notification, and running a Script (an atomic piece of logic its owner writes in Lua and
in Python, see script.py). Budgets, popularity and the like live with their owners, not
here, so this protocol stays small and every store implements it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from service.store.script import Script, ScriptArg


class Store(Protocol):
    kind: str  # "redis" or "memory", shown in /health

    @property
    def degraded(self) -> bool:
        """True while a Redis-backed store serves from its in-process stand-in (this
        process alone): callers sharing a fleet-wide quota then take only their share."""

    async def get(self, key: str) -> bytes | None: ...

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def expires_in(self, keys: Sequence[str]) -> list[float | None]:
        """Per key, the seconds until it expires: None when absent, inf when it never does."""

    async def acquire(self, keys: Sequence[str], token: str, ttl: float) -> list[float]:
        """SET NX with a TTL on each lease. Per key: 0.0 where this caller now holds it,
        else the seconds the other holder's lease has left (how long a waiter may wait)."""

    async def renew(self, keys: Sequence[str], token: str, ttl: float) -> int:
        """Extend the leases `token` still holds; how many it still holds."""

    async def release(self, keys: Sequence[str], token: str) -> int:
        """Delete the leases `token` still holds (compare-and-delete); how many it held."""

    async def notify(self, key: str) -> None:
        """Tell every process waiting on `key` that its computation finished."""

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        """An event set when `key` is notified; enter it before checking, to miss nothing."""

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """Run `script` atomically over `keys` (one hash tag: Redis Cluster needs one slot);
        its reply in the shapes script.py describes, the same from every store."""

    async def ping(self) -> None: ...


# The exception classes a store raises for one kind of failure (see fallback.Primary).
Errors = tuple[type[BaseException], ...]


def ms(seconds: float) -> int:
    """A TTL in whole milliseconds, as Redis takes it: at least 1 (0 would be refused)."""
    return max(1, int(seconds * 1000))


class Watchers:
    """Events of the waiters in this process, per key. Stores that stand in for each other
    share one, so a waiter is woken whichever of them delivers the notification."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}

    def wake(self, key: str) -> None:
        for event in self._events.get(key, ()):
            event.set()

    @contextlib.asynccontextmanager
    async def watch(self, key: str) -> AsyncIterator[asyncio.Event]:
        event = asyncio.Event()
        self._events.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            events = self._events[key]
            events.discard(event)
            if not events:
                del self._events[key]
