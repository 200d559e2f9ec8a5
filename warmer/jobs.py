"""The warmer's two jobs, and the plan that shows what the next run would do.

Both go through the service's own code: `Analytics.refresh` (day partitions, single flight,
the upstream budget at background priority), so a refresh costs what a request would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from service import metrics
from service.analytics.open_parts import OpenPart
from service.analytics.query import Query
from service.analytics.timezones import zone
from service.core import Core
from service.errors import ProblemError
from service.fleet.popularity import parse_member
from service.fleet.priority import warming
from service.fleet.tally import tally_requests
from warmer import renewal

log = logging.getLogger(__name__)

REFRESH_CONCURRENCY = 4  # refreshes at once: they overlap waiting on upstream, not the budget
MIN_SCORE = 0.01  # a score this low is one visit about seven half-lives ago


@dataclass(frozen=True, slots=True)
class Candidate:
    kind: str
    query: Query
    score: float | None  # popularity; None for configured presets
    label: str


@dataclass(slots=True)
class Decision:
    candidate: Candidate
    action: str  # "refresh", "fresh", "running"
    stale_in: float | None  # seconds until the stored answer goes stale; None: none stored
    estimate: int | None = None  # upstream queries a refresh would cost (plan only)


@dataclass(slots=True)
class Report:
    job: str
    started: float
    finished: float = 0.0
    candidates: int = 0
    refreshed: int = 0
    renewed: int = 0  # open parts renewed ahead of their expiry (renewal.py)
    fresh: int = 0
    running: int = 0
    failed: int = 0
    upstream: int = 0  # requests this run made
    allowance: float = 0.0  # its share of the budget for the run
    stopped_early: str | None = None
    deferred: int = 0  # refreshes that did not fit this run's share: the next run's
    acted_by: str = ""
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_zones(candidates: list[Candidate], now: float) -> dict[str, set[str]]:
    """Per project, the zones of its candidates that end today: they read its open parts."""
    zones: dict[str, set[str]] = {}
    for c in candidates:
        if c.query.end >= datetime.fromtimestamp(now, UTC).astimezone(zone(c.query.tz)).date():
            zones.setdefault(c.query.project_id, set()).add(c.query.tz)
    return zones


def preset_range(kind: str, today: date) -> tuple[date, date]:
    if kind == "month_to_date":
        return today.replace(day=1), today
    days = int(kind.removeprefix("last_"))
    return today - timedelta(days=days - 1), today


async def popular(core: Core, k: int) -> list[Candidate]:
    out = []
    for name, score in await core.popularity.top(k):
        if score < MIN_SCORE:
            break  # long unasked: not worth keeping fresh (it falls out of the set in time)
        kind, canonical = parse_member(name)
        if kind not in ("overview", "compare"):
            continue
        try:
            query = Query.from_canonical(canonical)
        except ValueError:
            continue  # written by another version; it will decay away
        out.append(Candidate(kind, query, score, f"{kind} {canonical}"))
    return out


def presets(core: Core, now: float) -> list[Candidate]:
    out = []
    for project in core.settings.warmer.projects:
        today = datetime.fromtimestamp(now, UTC).astimezone(zone(project.tz)).date()
        for kind in project.presets:
            start, end = preset_range(kind, today)
            query = Query(project.id, start, end, project.tz)
            out.append(Candidate("overview", query, None, f"{kind} {project.id} {project.tz}"))
    return out


async def decide(core: Core, candidate: Candidate, horizon: float, now: float) -> Decision:
    answer = await core.analytics.peek(candidate.kind, candidate.query)
    stale_in = None if answer is None else answer.fresh_until - now
    if answer is not None and answer.fresh_until > horizon:
        return Decision(candidate, "fresh", stale_in)
    if await core.analytics.refreshing(candidate.kind, candidate.query):
        return Decision(candidate, "running", stale_in)
    return Decision(candidate, "refresh", stale_in)


async def run(
    core: Core,
    job: str,
    candidates: list[Candidate],
    *,
    until_next: float,
    stop_reason: Callable[[], str | None],
    acted_by: str,
    carried: float = 0.0,
) -> Report:
    """Refresh, most important first, what goes stale before the next run plus the margin;
    stop when this run's share of the upstream budget is spent, or when `stop_reason` gives
    one (leadership lost, shutting down)."""
    cfg, now = core.settings.warmer, time.time()
    report = Report(
        job,
        now,
        candidates=len(candidates),
        acted_by=acted_by,
        # Its share until the next run (of the learned rate, if on), plus what earlier runs
        # left unspent: open days expire together, so warming comes in bursts.
        allowance=cfg.budget_share * await core.budget.rate() * until_next + carried,
    )
    horizon = now + until_next + cfg.margin
    slots = asyncio.Semaphore(REFRESH_CONCURRENCY)
    pending: dict[asyncio.Task[None], int] = {}  # refreshes under way -> their estimates

    def failed(label: str, detail: str, status: int | None = None) -> None:
        report.failed += 1
        report.errors = [*report.errors[-4:], f"{label}: {detail}"]
        if status in (503, 504):  # rate limited or upstream down: try next run
            report.stopped_early = f"upstream unavailable: {detail}"

    async def refresh(candidate: Candidate) -> None:
        try:
            with warming():
                await core.analytics.refresh(candidate.kind, candidate.query)
            report.refreshed += 1
        except ProblemError as exc:
            failed(candidate.label, exc.detail, exc.status)
        except Exception as exc:  # one bad answer must not starve those after it
            log.exception("refreshing %s failed", candidate.label)
            failed(candidate.label, type(exc).__name__)
        finally:
            slots.release()

    async def renew(part: OpenPart) -> None:
        try:
            with warming():
                await core.open_parts.renew(part)
            report.renewed += 1
        except ProblemError as exc:
            failed(part.label, exc.detail, exc.status)
        except Exception as exc:
            log.exception("renewing %s failed", part.label)
            failed(part.label, type(exc).__name__)
        finally:
            slots.release()

    with tally_requests() as spent:
        # The open parts first: refreshing an answer then finds them fresh, at no cost.
        zones = open_zones(candidates, now)
        per_run = cfg.budget_share * await core.budget.rate() * until_next
        for part in await renewal.parts_due(core, zones, interval=until_next, per_run=per_run):
            if reason := stop_reason():
                report.stopped_early = reason
                break
            if spent[0] + len(pending) + 1 > report.allowance:
                report.deferred += 1
                continue
            await slots.acquire()
            pending[asyncio.create_task(renew(part))] = 1
        for candidate in candidates:
            if reason := report.stopped_early or stop_reason():
                report.stopped_early = reason
                break
            decision = await decide(core, candidate, horizon, time.time())
            if decision.action != "refresh":
                report.fresh += decision.action == "fresh"
                report.running += decision.action == "running"
                continue
            # Checked before spending: a refresh costs at least its estimate, so a run stops
            # before it would go over its share, not after (counting those under way).
            cost = await core.analytics.estimate(candidate.kind, candidate.query)
            committed = spent[0] + sum(e for t, e in pending.items() if not t.done())
            if cost and committed + cost > report.allowance:
                # Cheaper candidates further down may still fit: skip this one, not the rest.
                report.deferred += 1
                continue
            await slots.acquire()
            pending[asyncio.create_task(refresh(candidate))] = cost
        await asyncio.gather(*pending)
        report.upstream = spent[0]
    if report.deferred and not report.stopped_early:
        report.stopped_early = (
            f"budget share spent: {report.deferred} refreshes or renewals left for the next run "
            f"({report.upstream} of {report.allowance:.0f} upstream requests used)"
        )
    report.finished = time.time()
    _count(report)
    if report.stopped_early:
        log.warning("%s stopped early: %s", job, report.stopped_early)
    log.info(
        "%s: %d open parts renewed, %d refreshed, %d fresh, %d running, %d failed, "
        "%d upstream requests",
        job,
        report.renewed,
        report.refreshed,
        report.fresh,
        report.running,
        report.failed,
        report.upstream,
    )
    return report


def _count(report: Report) -> None:
    """The run, in the metrics (`GET /metrics` of the process that ran it)."""
    metrics.WARMER_RUNS.labels(report.job).inc()
    for outcome in ("refreshed", "renewed", "failed", "deferred"):
        metrics.WARMER_DONE.labels(report.job, outcome).inc(getattr(report, outcome))
    metrics.WARMER_UPSTREAM.labels(report.job).inc(report.upstream)
    metrics.WARMER_ALLOWANCE.labels(report.job).inc(report.allowance)


async def plan(core: Core, until_next: float) -> list[Decision]:
    """What the next runs would do and why, without calling upstream."""
    now = time.time()
    horizon = now + until_next + core.settings.warmer.margin
    decisions = []
    for candidate in presets(core, now) + await popular(core, core.settings.warmer.top_k):
        decision = await decide(core, candidate, horizon, now)
        if decision.action == "refresh":
            decision.estimate = await core.analytics.estimate(candidate.kind, candidate.query)
        decisions.append(decision)
    return decisions
