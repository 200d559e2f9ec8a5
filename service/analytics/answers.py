"""Assembled answers, stored ready to send, with soft and hard TTLs.

An answer is serialized once and gzip-compressed once, behind a small fixed header, so a
hit is one GET and a write of bytes. Fresh until the soft TTL (HIT); after it, stale but
served at once while one background refresh runs (STALE), until the hard TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from service.analytics import progress as progresses
from service.analytics.assemble import meta
from service.analytics.catalog import Catalog
from service.analytics.hot import HotAnswers as HotAnswers  # its home before hot.py
from service.analytics.progress import Progress
from service.errors import ProblemError, StillFetching
from service.fleet import priority as priorities
from service.fleet.flight import SingleFlight
from service.fleet.priority import background
from service.store.base import Store
from service.store.keys import PROGRESS_TTL_SECONDS, Keys

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!Bddd24s")  # format, generated_at, fresh_until, usable_until, etag
_FORMAT = 1
RETURN_SLACK = 1.5  # a user told to come back keeps the fetch's priority this much longer
GZIP_LEVEL = 6  # compressed once per refresh, sent many times: spend a little CPU for bytes

Compute = Callable[[], Awaitable[dict[str, Any]]]


class CacheStatus(StrEnum):
    """How an answer was served: the `X-Cache` header, and what the metrics count."""

    HIT = "HIT"  # fresh, from the store (or this process's hot copy)
    STALE = "STALE"  # past its soft TTL: served at once while one refresh runs
    MISS = "MISS"  # computed (or waited for) now


@dataclass(frozen=True, slots=True)
class Answer:
    generated_at: float
    fresh_until: float
    usable_until: float
    etag: str  # weak: identifies the data, not the meta timestamps
    gz: bytes

    def encode(self) -> bytes:
        head = _HEADER.pack(
            _FORMAT, self.generated_at, self.fresh_until, self.usable_until, self.etag.encode()
        )
        return head + self.gz

    @classmethod
    def decode(cls, raw: bytes) -> Answer | None:
        if len(raw) < _HEADER.size or raw[0] != _FORMAT:
            return None
        _, generated, fresh, usable, etag = _HEADER.unpack_from(raw)
        return cls(generated, fresh, usable, etag.decode(), raw[_HEADER.size :])

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(gzip.decompress(self.gz))
        return data

    def stale_json(self) -> bytes:
        """The body with meta.stale set: the rare path, so decoding here is fine."""
        data = self.body()
        data["meta"]["stale"] = True
        return orjson.dumps(data)


def make_answer(data: dict[str, Any], source: str, now: float, soft: float, hard: float) -> Answer:
    etag = hashlib.blake2b(
        orjson.dumps(data, option=orjson.OPT_SORT_KEYS), digest_size=12
    ).hexdigest()
    body = orjson.dumps({**data, "meta": meta(source, now, now + soft)})
    return Answer(
        now,
        now + soft,
        now + soft + hard,
        etag,
        gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
    )


class AnswerCache:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        flight: SingleFlight,
        source: str,
        *,
        soft_ttl: float,
        hard_ttl: float,
        hot: HotAnswers,
        max_wait: float,
        rate: Callable[[], Awaitable[float]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._flight = flight
        self._source = source
        self._soft = soft_ttl
        self._hard = hard_ttl
        self._hot = hot
        self._max_wait = max_wait
        self._rate = rate  # upstream pages a second now, for honest Retry-After estimates
        self._clock = clock
        self._refreshing: set[asyncio.Task[Any]] = set()
        self._catalog = Catalog(store, keys, clock)  # what an invalidation may drop
        self._watching = contextlib.AsyncExitStack()
        self._dropped: asyncio.Event | None = None  # set when an invalidation is announced

    async def get(
        self,
        kind: str,
        canonical: str,
        compute: Compute,
        parts: Callable[[], Sequence[tuple[str, str]]] = list,
    ) -> tuple[Answer, CacheStatus]:
        """The answer and how it was served. `parts` are the answers (kind, canonical) its
        computation waits for: a client told to come back is told when they will be done."""
        key = self._keys.answer(kind, canonical)
        now = self._clock()
        if self._dropped is None or self._dropped.is_set():
            await self._listen()
        found = self._hot.get(key)
        if found is not None and now < found.fresh_until:
            return found, CacheStatus.HIT
        raw = await self._store.get(key)
        found = Answer.decode(raw) if raw is not None else None
        if found is not None and now < found.fresh_until:
            self._hot.put(key, found)
            return found, CacheStatus.HIT
        if found is not None and now < found.usable_until:
            self._refresh_soon(kind, canonical, compute)
            return found, CacheStatus.STALE
        answer = await self._wait(
            key,
            lambda: self._compute(kind, canonical, compute),
            lambda: self._fresh(key),
            lambda: [self._keys.answer(k, c) for k, c in parts()],
        )
        return answer, CacheStatus.MISS

    async def refresh(self, kind: str, canonical: str, compute: Compute) -> Answer:
        """Recompute and store now, through the single flight (a refresh already under way
        anywhere is joined, not repeated)."""
        key = self._keys.answer(kind, canonical)
        started = self._clock()
        return await self._wait(
            key,
            lambda: self._compute(kind, canonical, compute),
            lambda: self._newer(key, started),
        )

    async def _wait(
        self,
        key: str,
        compute: Callable[[], Awaitable[Answer]],
        check: Callable[[], Awaitable[Answer | None]],
        parts: Callable[[], Sequence[str]] = list,
    ) -> Answer:
        """The flight's answer. A user's request waits at most max_wait: then the fetch goes
        on, and the user is told when to come back (StillFetching, from the progress of the
        answer and its parts); until then the fetch keeps the user's priority, since the
        user is coming back for it. Work inside other work (a compare's overviews, the
        warmer) waits as long as it takes: its own requester bounds the wait."""
        caller = priorities.current()
        if not (caller.fixed and caller.is_user()):
            return await self._flight.run(key, compute, check)
        waiting = asyncio.timeout(self._max_wait)
        try:
            async with waiting:
                return await self._flight.run(key, compute, check)
        except TimeoutError:
            if not waiting.expired():
                raise  # a timeout inside the computation, not this wait's
        part_keys = parts()
        raws = await self._store.mget(
            [self._keys.progress(k) for k in (key, *part_keys)] + list(part_keys)
        )
        told, stored = raws[: len(part_keys) + 1], raws[len(part_keys) + 1 :]
        # A part neither stored nor under way (no progress yet) is work still ahead too.
        unstarted = sum(p is None and a is None for p, a in zip(told[1:], stored, strict=True))
        summary = progresses.combine(
            [orjson.loads(r) for r in told if r is not None], unstarted=unstarted
        )
        retry_after = progresses.retry_after(summary, await self._rate(), fallback=self._max_wait)
        self._flight.keep_priority(key, retry_after * RETURN_SLACK + self._max_wait)
        raise StillFetching(
            "the answer is still being fetched from Voiceflow; it goes on meanwhile, "
            "so retry after the time given",
            retry_after=retry_after,
            progress=summary,
        )

    async def computing(self, kind: str, canonical: str) -> bool:
        return await self._flight.in_progress(self._keys.answer(kind, canonical))

    async def peek(self, kind: str, canonical: str) -> Answer | None:
        raw = await self._store.get(self._keys.answer(kind, canonical))
        return Answer.decode(raw) if raw is not None else None

    async def _newer(self, key: str, than: float) -> Answer | None:
        raw = await self._store.get(key)
        found = Answer.decode(raw) if raw is not None else None
        return found if found is not None and found.generated_at >= than else None

    async def _fresh(self, key: str) -> Answer | None:
        raw = await self._store.get(key)
        found = Answer.decode(raw) if raw is not None else None
        return found if found is not None and self._clock() < found.fresh_until else None

    async def _listen(self) -> None:
        """Drop this process's hot copies: an invalidation was announced (store.notify of
        `keys.invalidated`: pub/sub on Redis, so every process hears it within milliseconds).
        The first call starts listening, before any hot copy is kept."""
        if self._dropped is None:
            watch = self._store.watch(self._keys.invalidated)
            self._dropped = await self._watching.enter_async_context(watch)
        self._dropped.clear()
        self._hot.clear()

    def drop_hot(self) -> None:
        """Forget the hot copies now (the invalidating process does not wait for pub/sub)."""
        self._hot.clear()

    async def _compute(self, kind: str, canonical: str, compute: Compute) -> Answer:
        key = self._keys.answer(kind, canonical)
        progress_key = self._keys.progress(key)

        async def publish(summary: bytes) -> None:
            await self._store.set(progress_key, summary, PROGRESS_TTL_SECONDS)

        with progresses.tracking(Progress(publish)):
            data = await compute()
        await self._store.delete(progress_key)
        now = self._clock()
        answer = make_answer(data, self._source, now, self._soft, self._hard)
        await asyncio.gather(
            self._store.set(key, answer.encode(), self._soft + self._hard),
            self._catalog.answer(kind, canonical, answer.usable_until),
        )
        if self._dropped is not None:  # kept only once invalidations are listened for
            self._hot.put(key, answer)
        return answer

    def _refresh_soon(self, kind: str, canonical: str, compute: Compute) -> None:
        """Start one background refresh; a failed one leaves the stale answer served."""
        key = self._keys.answer(kind, canonical)
        if self._flight.running(key):
            return
        with background():  # the task copies this context: its upstream requests are background
            refresh = self._refresh(key, lambda: self._compute(kind, canonical, compute))
            task = asyncio.create_task(refresh, name=f"refresh:{key}")
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh(self, key: str, compute: Callable[[], Awaitable[Answer]]) -> None:
        """Runs as background work: it spends only the background share of the budget."""
        try:
            await self._flight.run(key, compute, lambda: self._fresh(key))
        except ProblemError as exc:
            log.warning("background refresh of %s failed (%s); stale answer stays", key, exc.detail)
        except Exception:
            log.exception("background refresh of %s failed; stale answer stays", key)

    async def close(self) -> None:
        await self._watching.aclose()
        for task in list(self._refreshing):
            task.cancel()
        await asyncio.gather(*self._refreshing, return_exceptions=True)
