"""Redis key builders and the fixed durations around them: the only place keys are spelled.

Every key starts with the namespace and the data source, so demo data and real Voiceflow
data never share a key. Project ids are validated to `[A-Za-z0-9_-]{1,64}` before they get
here and every other part is fixed-format, so no project id can reach into another key.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import date

NAMESPACE = "vfac:v1"  # bump v1 when a stored value's format changes: old values are ignored

LEASE_SUFFIX = ":lease"  # every lease key ends so (the in-process store never evicts one)
LEASE_TTL_SECONDS = 15.0  # a fetch holds its lease this long; renewed while it runs
LEASE_RENEW_SECONDS = 5.0  # renew at a third of the TTL, so one slow renewal does not lose it
DEMAND_TTL_SECONDS = 3.0  # a waiter's demand, refreshed every second, outlives two missed writes
CHECKPOINT_TTL_SECONDS = 600.0  # a killed fetch is resumed well within this; then it goes
DENSITY_TTL_SECONDS = 30 * 86400.0  # a project's activity changes slowly
PROGRESS_TTL_SECONDS = 30.0  # published about every second while a computation runs
EXPORT_TTL_SECONDS = 60.0  # absorbs double clicks and retries, yet never outlives its data by much
# Catalogue entries kept per index (oldest-expiring dropped first): far more than a project's
# answers, windows or days in use, yet a few MB at most per index.
CATALOG_KEEP = 20_000
KEY_CHECK_TTL_SECONDS = 86400.0  # readiness shows the last check and its time even after a pause
READABLE_PROJECT_TTL_SECONDS = 7 * 86400.0  # a project the key read this week likely still is


@functools.lru_cache(maxsize=4096)
def _digest(text: str) -> str:
    """A short stable name for a question; remembered, since hot questions repeat."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@functools.lru_cache(maxsize=4096)  # every hit asks for its answer's key
def _answer_key(prefix: str, kind: str, canonical: str) -> str:
    project = canonical.split("|", 1)[0]
    return f"{prefix}:ans:{kind}:{project}:{_digest(canonical)}"


class Keys:
    """Key builders for one data source (`voiceflow` or `demo`)."""

    def __init__(self, source: str) -> None:
        self.prefix = f"{NAMESPACE}:{source}"

    def answer(self, kind: str, canonical: str) -> str:
        """An assembled answer (overview, compare, export) for one canonical question."""
        return _answer_key(self.prefix, kind, canonical)

    def export(self, canonical: str, fmt: str, page_size: str) -> str:
        """A rendered export file (CSV or PDF) of one canonical question."""
        project = canonical.split("|", 1)[0]
        digest = hashlib.blake2b(f"{canonical}|{fmt}|{page_size}".encode(), digest_size=12)
        return f"{self.prefix}:export:{project}:{digest.hexdigest()}"

    def day(self, project_id: str, metric: str, day: date) -> str:
        """The rows of one list metric for one UTC day.

        The hash tag puts every day of a (project, metric) in one Redis Cluster slot, so one
        MGET or one lease script covers a whole range.
        """
        return f"{self.prefix}:{{{project_id}:{metric}}}:day:{day:%Y%m%d}"

    def days_done(self, project_id: str, metric: str) -> str:
        """Notified whenever a fetch of this (project, metric) stored days or gave up."""
        return f"{self.prefix}:{{{project_id}:{metric}}}:fetched"

    def checkpoint(self, project_id: str, metric: str, chunk: str) -> str:
        """A chunk fetch's progress (cursor, pages so far), so any process can resume it."""
        return f"{self.prefix}:{{{project_id}:{metric}}}:ckpt:{chunk}"

    def checkpoint_page(self, project_id: str, metric: str, chunk: str, page: int) -> str:
        """The rows of one page of a checkpointed chunk fetch."""
        return f"{self.prefix}:{{{project_id}:{metric}}}:ckpt:{chunk}:{page}"

    def checkpoint_of(self, project_id: str, metric: str, day: date) -> str:
        """Names the checkpointed chunk a day is being fetched in (read with the day's MGET)."""
        return f"{self.prefix}:{{{project_id}:{metric}}}:ckpt-day:{day:%Y%m%d}"

    def wants(self, project_id: str, metric: str) -> str:
        """Sorted set: the day ranges (YYYYMMDD-YYYYMMDD) of a (project, metric) that asks
        are waiting for -> until when (analytics/wants.py)."""
        return f"{self.prefix}:{{{project_id}:{metric}}}:wants"

    def density(self, project_id: str, metric: str) -> str:
        """Upstream rows per day of a (project, metric), learned from its fetches: it sizes
        chunks and estimates how long a fetch will take."""
        return f"{self.prefix}:{{{project_id}:{metric}}}:density"

    def progress(self, answer_key: str) -> str:
        """How far the computation of an answer has got, for requests in any process."""
        return f"{answer_key}:progress"

    def intents(self, project_id: str, start: str, end: str) -> str:
        """top_intents for one exact UTC window (it is not hourly, so not day-partitioned)."""
        return f"{self.prefix}:intents:{project_id}:{start}:{end}"

    def key_check(self, key_id: str) -> str:
        """The fleet's last check of one API key (hashed): ok, fail or degraded, and when."""
        return f"{self.prefix}:keycheck:{key_id}"

    def readable_project(self, key_id: str) -> str:
        """The project the API key (hashed) last read: what the next check asks about."""
        return f"{self.prefix}:keycheck:{key_id}:project"

    def answer_index(self, project_id: str) -> str:
        """Sorted set: the answers (kind|canonical) stored for a project -> when they expire."""
        return f"{self.prefix}:catalog:{project_id}:answers"

    def intents_index(self, project_id: str) -> str:
        """Sorted set: the top_intents windows (start|end) stored for a project -> expiry."""
        return f"{self.prefix}:catalog:{project_id}:intents"

    def day_index(self, project_id: str, metric: str) -> str:
        """Sorted set: the days (d:YYYYMMDD) and checkpointed chunks (c:<chunk>) stored for a
        (project, metric) -> expiry; in their hash tag, so one slot holds all of them."""
        return f"{self.prefix}:{{{project_id}:{metric}}}:catalog"

    @property
    def invalidated(self) -> str:
        """Notified after an invalidation: every process drops its hot copies of answers."""
        return f"{self.prefix}:invalidated"

    @staticmethod
    def lease(key: str) -> str:
        """The single-flight lease guarding the computation (or fetch) of `key`."""
        return f"{key}{LEASE_SUFFIX}"

    @staticmethod
    def demand(key: str) -> str:
        """Clients waiting, in processes other than the lease holder's, for the computation
        of `key`; beside its lease, in the same hash tag where the key has one."""
        return f"{key}:demand"

    @property
    def popularity(self) -> str:
        """Sorted set: answer (kind|canonical question) -> decaying popularity score."""
        return f"{self.prefix}:{{pop}}:scores"

    @property
    def popularity_base(self) -> str:
        """The base time the stored scores are expressed in (same hash tag as the set)."""
        return f"{self.prefix}:{{pop}}:base"

    @property
    def warmer_leader(self) -> str:
        """Lease naming the one warmer process that acts."""
        return f"{self.prefix}:warmer:leader"

    @property
    def warmer_heartbeat(self) -> str:
        """Written by every warmer process each beat; expires when none is alive."""
        return f"{self.prefix}:warmer:heartbeat"

    @property
    def warmer_status(self) -> str:
        """The acting warmer's report of its jobs: runs, keys refreshed, requests spent."""
        return f"{self.prefix}:warmer:status"

    @property
    def done_channel(self) -> str:
        """Pub/sub channel announcing that a leased computation finished."""
        return f"{self.prefix}:done"
