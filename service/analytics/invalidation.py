"""Dropping what is cached about a project, or about a range of its UTC days, fleet-wide.

What touches the range goes: the day partitions of every list metric, the checkpointed
chunks that hold any of those days (resuming one would bring the old rows back), the
top_intents windows that overlap it, and the stored answers (with their rendered exports)
whose range — or, for a compare, whose previous period — overlaps it. Days are found by
date (the newest CHECKED_DAYS of the range) and through the catalogue (analytics/catalog.py),
the rest through the catalogue alone: the store cannot list keys.

Order matters: days and windows go first, then the answers built from them, then every
process is told to forget its hot copies (store.notify: pub/sub on Redis), so no process
serves a dropped answer for longer than its pub/sub delivery takes. The next ask of a
dropped answer refetches exactly the dropped days; the warmer refreshes popular ones, whose
popularity is kept. A fetch already under way when the call comes stores what it fetched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import orjson

from service.analytics.answers import AnswerCache
from service.analytics.catalog import Catalog
from service.analytics.chunks import parse_chunk_id
from service.analytics.query import EARLIEST, LATEST, PAGE_SIZES, Query, check_object, parse_date
from service.analytics.rows import LIST_METRICS
from service.analytics.timezones import utc_window
from service.errors import ValidationError
from service.identifiers import PROJECT_ID_RE
from service.store.base import Store
from service.store.keys import Keys

MAX_LISTED = 100  # answers named in the report (the counts cover every one)
BATCH = 500  # keys per MGET, PTTL pipeline or DEL: no command blocks a busy Redis for long
CHECKED_DAYS = 3 * 366  # newest days of a range checked by date, catalogued or not
# The rendered files an answer's question may have: a CSV has no page size (http/exports).
EXPORT_VARIANTS = (("csv", "-"), *(("pdf", size) for size in PAGE_SIZES))
_FIELDS = {"project_id", "start", "end"}
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What to drop: a project's cache over UTC days start..end (either open: unbounded)."""

    project_id: str
    start: date | None = None
    end: date | None = None

    @property
    def window(self) -> tuple[datetime, datetime]:
        """[from, until) in UTC instants."""
        first, last = self.start or EARLIEST, self.end or LATEST
        return (
            datetime.combine(first, dtime(), UTC),
            datetime.combine(last + timedelta(days=1), dtime(), UTC),
        )

    def covers(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)

    def covers_any(self, first: date, last: date) -> bool:
        """Whether days first..last include a day of the range."""
        return (self.end is None or first <= self.end) and (
            self.start is None or self.start <= last
        )

    def touches(self, start: datetime, until: datetime) -> bool:
        """Whether [start, until) overlaps the range."""
        lo, hi = self.window
        return start < hi and until > lo


def parse_invalidation(body: Any) -> Invalidation:
    """Validate the body; ValidationError names the field and the rule."""
    check_object(body, _FIELDS)
    project_id = body.get("project_id")
    if project_id is None:
        raise ValidationError("project_id is required", field="project_id")
    if not isinstance(project_id, str) or not PROJECT_ID_RE.fullmatch(project_id):
        raise ValidationError(
            "project_id must be 1-64 characters of A-Z, a-z, 0-9, _ or -", field="project_id"
        )
    start, end = _day(body, "start"), _day(body, "end")
    if start is not None and end is not None and end < start:
        raise ValidationError("end must be on or after start", field="end")
    return Invalidation(project_id, start, end)


def _day(body: dict[str, Any], name: str) -> date | None:
    """An optional UTC date, by the rules of the answers' dates (analytics/query.py)."""
    value = body.get(name)
    return None if value is None else parse_date(value, name)


@dataclass(slots=True)
class Dropped:
    """What an invalidation dropped, as the admin call reports it."""

    days: int = 0  # day partitions: (metric, UTC day) pairs
    checkpoints: int = 0
    intents_windows: int = 0
    answers: int = 0
    exports: int = 0
    listed: list[dict[str, str]] = field(default_factory=list)

    def report(self, ask: Invalidation) -> dict[str, Any]:
        return {
            "project_id": ask.project_id,
            "start": None if ask.start is None else ask.start.isoformat(),
            "end": None if ask.end is None else ask.end.isoformat(),
            "dropped": {
                "days": self.days,
                "checkpoints": self.checkpoints,
                "intents_windows": self.intents_windows,
                "answers": self.answers,
                "exports": self.exports,
            },
            "answers": self.listed[:MAX_LISTED],
            "answers_truncated": len(self.listed) > MAX_LISTED,
        }


def _batches(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    return (keys[i : i + BATCH] for i in range(0, len(keys), BATCH))


def _answer_touches(ask: Invalidation, kind: str, canonical: str) -> bool:
    try:
        query = Query.from_canonical(canonical)
        periods = [query, query.previous()] if kind == "compare" else [query]
        windows = [utc_window(q.start, q.end, q.tz) for q in periods]
    except (ValueError, KeyError):  # not a question this version can read: not ours to drop
        return False
    return any(ask.touches(first, last + timedelta(hours=1)) for first, last in windows)


def _window_touches(ask: Invalidation, start: str, end: str) -> bool:
    try:
        first, last = (
            datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) for t in (start, end)
        )
    except ValueError:
        return False
    return ask.touches(first, last + _MS)  # a window's end is inclusive, to the millisecond


class Invalidator:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        answers: AnswerCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._answers = answers
        self._catalog = Catalog(store, keys, clock)
        self._clock = clock

    async def run(self, ask: Invalidation) -> Dropped:
        dropped = Dropped()
        per_metric, dropped.intents_windows = await asyncio.gather(
            asyncio.gather(*(self._days(ask, metric) for metric in LIST_METRICS)),
            self._intents(ask),
        )
        dropped.days = sum(days for days, _ in per_metric)
        dropped.checkpoints = sum(chunks for _, chunks in per_metric)
        await self._drop_answers(ask, dropped)
        self._answers.drop_hot()  # this process at once; the others when the notice lands
        await self._store.notify(self._keys.invalidated)
        return dropped

    def _checked(self, ask: Invalidation) -> list[date]:
        """The newest CHECKED_DAYS of the range up to today (no later day is ever stored)."""
        today = datetime.fromtimestamp(self._clock(), UTC).date()
        last = min(ask.end or today, today)
        first = max(ask.start or EARLIEST, last - timedelta(days=CHECKED_DAYS - 1))
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    async def _days(self, ask: Invalidation, metric: str) -> tuple[int, int]:
        """Drop the range's days of one metric and the chunks holding them; every key is in
        the (project, metric) hash tag. Returns (days dropped, chunks dropped)."""
        project = ask.project_id
        stored, chunks = await self._catalog.stored(project, metric)
        days = sorted({d for d in stored if ask.covers(d)} | set(self._checked(ask)))
        pointers = await self._mget([self._keys.checkpoint_of(project, metric, d) for d in days])
        spans = {c: parse_chunk_id(c) for c in chunks}
        touched = {c for c, span in spans.items() if span is not None and ask.covers_any(*span)}
        ids = sorted(touched | {p.decode() for p in pointers if p is not None})
        chunk_keys, found = await self._chunk_keys(project, metric, ids)
        day_keys = await self._existing([self._keys.day(project, metric, d) for d in days])
        for batch in _batches([*day_keys, *chunk_keys]):
            await self._store.delete(*batch)
        return len(day_keys), found

    async def _chunk_keys(
        self, project: str, metric: str, ids: Sequence[str]
    ) -> tuple[list[str], int]:
        """Every key of the checkpointed chunks `ids` (meta, pages, day pointers), and how
        many of them are still stored."""
        metas = await self._mget([self._keys.checkpoint(project, metric, c) for c in ids])
        keys: list[str] = []
        found = 0
        for chunk, meta in zip(ids, metas, strict=True):
            span = parse_chunk_id(chunk)
            if span is None:
                continue
            pages = int(orjson.loads(meta)["pages"]) if meta is not None else 0
            found += meta is not None
            first, last = span
            keys.append(self._keys.checkpoint(project, metric, chunk))
            keys += [self._keys.checkpoint_page(project, metric, chunk, n) for n in range(pages)]
            keys += [
                self._keys.checkpoint_of(project, metric, first + timedelta(days=i))
                for i in range((last - first).days + 1)
            ]
        return keys, found

    async def _intents(self, ask: Invalidation) -> int:
        project = ask.project_id
        keys = [
            self._keys.intents(project, start, end)
            for start, end in await self._catalog.intents_windows(project)
            if _window_touches(ask, start, end)
        ]
        existing = await self._existing(keys)
        await self._delete_each(existing)
        return len(existing)

    async def _drop_answers(self, ask: Invalidation, dropped: Dropped) -> None:
        touched = [
            (kind, canonical)
            for kind, canonical in await self._catalog.answers(ask.project_id)
            if _answer_touches(ask, kind, canonical)
        ]
        keys = {
            self._keys.answer(kind, canonical): (kind, canonical) for kind, canonical in touched
        }
        existing = await self._existing(list(keys))
        questions = sorted({canonical for _, canonical in touched})
        exports = await self._existing(
            [self._keys.export(q, fmt, size) for q in questions for fmt, size in EXPORT_VARIANTS]
        )
        await self._delete_each([*existing, *exports])
        dropped.answers, dropped.exports = len(existing), len(exports)
        dropped.listed = [{"kind": keys[k][0], "query": keys[k][1]} for k in existing]

    async def _mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """MGET in batches (of keys sharing one hash tag)."""
        out: list[bytes | None] = []
        for batch in _batches(keys):
            out += await self._store.mget(batch)
        return out

    async def _existing(self, keys: Sequence[str]) -> list[str]:
        """The keys still stored (one PTTL each, pipelined in batches)."""
        out: list[str] = []
        for batch in _batches(keys):
            left = await self._store.expires_in(batch)
            out += [k for k, t in zip(batch, left, strict=True) if t is not None]
        return out

    async def _delete_each(self, keys: Sequence[str]) -> None:
        """Delete keys of different hash slots: one DEL each (Redis Cluster), concurrently."""
        for batch in _batches(keys):
            await asyncio.gather(*(self._store.delete(k) for k in batch))
