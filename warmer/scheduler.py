"""The warmer's schedule on APScheduler 3 (AsyncIOScheduler), run by whichever process holds
the leader lease. Runs in `python -m warmer`, or inside the web process with no Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from service.core import Core
from service.store.fallback import FallbackStore
from warmer import jobs
from warmer.leader import Leader
from warmer.state import read_status, write_status

log = logging.getLogger(__name__)

FIRST_RUN_DELAY = 1.0  # seconds after start: the leader lease is settled by then
HISTORY = 20  # runs kept in the status report
CARRY_SECONDS = 60.0  # unspent allowance kept this long: an open day's TTL, when they expire
DRAIN_SECONDS = 10.0  # a run under way may finish its refresh this long after SIGTERM


class Warmer:
    def __init__(self, core: Core) -> None:
        self.core = core
        cfg = core.settings.warmer
        # The lease lives in Redis itself: on the fallback store, a warmer cut off from Redis
        # would take a lease in its own memory and act beside the real leader.
        store = core.store.primary if isinstance(core.store, FallbackStore) else core.store
        self.leader = Leader(
            store,
            core.keys,
            lease=cfg.lease,
            heartbeat=cfg.heartbeat,
            heartbeat_ttl=cfg.heartbeat_ttl,
        )
        self._one_run = asyncio.Lock()  # jobs never overlap: they share one budget share
        self._stopping = False
        self._unspent = 0.0  # allowance earlier runs left, carried over (up to CARRY_SECONDS')
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        # coalesce: a backlog of missed runs becomes one; max_instances: never two at once;
        # misfire grace: a run later than this (e.g. the process was paused) is skipped.
        common: dict[str, Any] = {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(cfg.misfire_grace),
        }
        first = datetime.now(UTC) + timedelta(seconds=FIRST_RUN_DELAY)
        trigger = (
            CronTrigger.from_crontab(cfg.cron, timezone=UTC)
            if cfg.cron
            else IntervalTrigger(seconds=cfg.interval)
        )
        self.scheduler.add_job(
            self.refresh_ahead,
            trigger,
            id="refresh",
            name="refresh-ahead",
            next_run_time=first,
            **common,
        )
        if cfg.projects:
            self.scheduler.add_job(
                self.presets,
                IntervalTrigger(seconds=cfg.interval),
                id="presets",
                name="presets (stale check)",
                next_run_time=first,
                **common,
            )
            minute, second = divmod(int(cfg.after_midnight), 60)
            for tz in sorted({p.tz for p in cfg.projects}):
                self.scheduler.add_job(
                    self.presets,
                    CronTrigger(hour=0, minute=minute, second=second, timezone=tz),
                    id=f"presets@{tz}",
                    name=f"presets after midnight in {tz}",
                    **common,
                )

    def until_next(self, job_id: str) -> float:
        """Seconds from now to the job's next run (its horizon: what must stay fresh)."""
        job = self.scheduler.get_job(job_id)
        nxt = job.next_run_time if job is not None else None
        fallback = self.core.settings.warmer.interval
        return fallback if nxt is None else max(1.0, nxt.timestamp() - time.time())

    async def refresh_ahead(self) -> None:
        await self._run("refresh", lambda: jobs.popular(self.core, self.core.settings.warmer.top_k))

    async def presets(self) -> None:
        async def candidates() -> list[jobs.Candidate]:
            return jobs.presets(self.core, time.time())

        await self._run("presets", candidates)

    async def _run(
        self, job_id: str, candidates: Callable[[], Awaitable[list[jobs.Candidate]]]
    ) -> None:
        if self._stopping or not self.leader.acting:
            return
        async with self._one_run:
            try:
                await self._run_one(job_id, await candidates())
            except Exception:  # a job must not kill the scheduler; the next run tries again
                log.exception("warmer job %s failed", job_id)

    async def _run_one(self, job_id: str, candidates: list[jobs.Candidate]) -> None:
        log.info("warmer %s runs %s", self.leader.id, job_id)
        report = await jobs.run(
            self.core,
            job_id,
            candidates,
            until_next=self.until_next(job_id),
            stop_reason=self._stop_reason,
            acted_by=self.leader.id,
            carried=self._unspent,
        )
        cfg = self.core.settings.warmer
        cap = cfg.budget_share * self.core.settings.upstream_rate * CARRY_SECONDS
        self._unspent = min(cap, max(0.0, report.allowance - report.upstream))
        log.info("warmer %s finished %s", self.leader.id, job_id)
        await self._record(report.as_dict())

    def _stop_reason(self) -> str | None:
        if self._stopping:
            return "shutting down"
        return None if self.leader.acting else "no longer the leader"

    async def _record(self, report: dict[str, Any]) -> None:
        status = await read_status(self.core.store, self.core.keys)
        history = [*status.get("history", []), report][-HISTORY:]
        last = {**status.get("last_runs", {}), report["job"]: report}
        await write_status(
            self.core.store,
            self.core.keys,
            {
                "updated_at": time.time(),
                "leader": {"id": self.leader.id, "since": self.leader.since},
                "schedule": self.schedule(),
                "config": self.config(),
                "last_runs": last,
                "history": history,
            },
        )

    def schedule(self) -> list[dict[str, Any]]:
        return [
            {
                "id": job.id,
                "name": job.name,
                "trigger": str(job.trigger),
                "next_run": job.next_run_time.timestamp() if job.next_run_time else None,
            }
            for job in self.scheduler.get_jobs()
        ]

    def config(self) -> dict[str, Any]:
        cfg = self.core.settings.warmer
        return {
            "source": cfg.source,
            "interval": cfg.interval,
            "cron": cfg.cron,
            "top_k": cfg.top_k,
            "margin": cfg.margin,
            "budget_share": cfg.budget_share,
            "half_life": cfg.half_life,
            "projects": [p.id for p in cfg.projects],
            "lease": cfg.lease,
        }

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the schedule while open. On the way out no run starts, the run under way stops
        after its current refresh and is awaited (APScheduler 3 would only cancel it), and
        only then is the scheduler shut down and the leader lease given up."""
        async with self.leader.running():
            self.scheduler.start()
            log.info(
                "warmer %s started: %s",
                self.leader.id,
                ", ".join(f"{j.name} ({j.trigger})" for j in self.scheduler.get_jobs()),
            )
            try:
                yield
            finally:
                self.scheduler.pause()
                self._stopping = True
                # A run submitted just now gets one turn to queue for the lock (FIFO), so it is
                # awaited below rather than cancelled by the shutdown (which logs an error).
                await asyncio.sleep(0)
                await self._drain()
                self.scheduler.shutdown(wait=False)
                self._one_run.release()

    async def _drain(self) -> None:
        """Hold the run lock once the run under way, if any, has finished: it stops after its
        current refresh, or, past DRAIN_SECONDS, when its flights are stopped under it."""
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                await self._one_run.acquire()
                return
        except TimeoutError:
            log.warning("warmer %s: stopping the refresh under way to shut down", self.leader.id)
        await self.core.flight.close()
        await self._one_run.acquire()
