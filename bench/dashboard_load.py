"""The cold dashboard benchmark's parts: its load, the floor it is measured against, and
the audit of the simulator's log (bench/dashboard.py runs the scenarios)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.env import KEY
from bench.workload import project_id
from service.analytics.intents import MS
from service.analytics.partitions import utc_days
from service.analytics.progress import PAGE_ROWS
from service.analytics.query import Query
from service.analytics.rows import LIST_METRICS
from service.analytics.timezones import local_midnight_utc, utc_window, zone
from service.analytics.wants import day_runs
from service.store.keys import Keys
from simulator.data import rows_between
from tests.processes import Process, sim_control, start_service
from warmer.jobs import preset_range

RATE = 10.0  # the simulator's limit per key, and the service's default budget
TIGHT = ("--rate", f"{RATE:g}", "--burst", f"{RATE:g}")  # the simulator's arguments for it
LOAD = 20.0  # dashboard asks a second, over both web processes
COMPARE_SHARE = 0.3
ZONES: tuple[str, ...] = ("UTC", "Europe/Helsinki", "America/New_York", "Asia/Tokyo")
ZONES += ("Europe/Berlin", "America/Los_Angeles", "Asia/Dubai", "America/Sao_Paulo")  # i: ZONES[i]
PRESETS = ("last_7", "last_30", "last_90", "month_to_date")
KINDS = ("overview", "compare")
ANSWERS = len(ZONES) * len(PRESETS) * len(KINDS)
AFTER = float(os.environ.get("DASHBOARD_AFTER_SECONDS", "60"))
WARM = float(os.environ.get("DASHBOARD_WARM_SECONDS", "90"))
GENEROUS_AFTER = float(os.environ.get("DASHBOARD_GENEROUS_AFTER_SECONDS", "20"))
FILL_LIMIT = 330.0  # seconds: a fill slower than this is reported as not done
DRAIN = 30.0  # seconds the asks under way get once the load stops
SETTLE = 10800.0  # CACHE_SETTLE_SECONDS' default: a window ending later is still open
OPEN_DAY_TTL = 60.0  # CACHE_OPEN_DAY_TTL_SECONDS' default: an open window's rows live this long
TTL = 10  # CACHE_TTL_SECONDS in (d)
WARMER_TOML = """[refresh]
interval_seconds = 4
margin_seconds = 2
top_k = 100  # the dashboard has 64 answers: the default 50 would leave some out
"""
LOGS = Path(os.environ.get("TMPDIR", "/tmp")) / "vfac-bench-dashboard"
STORE = Keys("voiceflow")  # the service's keys when a VOICEFLOW_API_KEY is set

AnswerId = tuple[int, str, str]  # project index, preset, kind


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: AnswerId
    asked: float  # seconds since the load started
    done: float
    status: int  # the final one (not a 503)
    cache: str  # its X-Cache
    unavailable: int  # 503s before it


def floor_pages(now: datetime) -> tuple[int, int, int]:
    """(list-metric pages, top_intents requests, windows) the 64 answers need at least.

    Per project, the union of the UTC days under every answer (a compare adds its previous
    period) up to today, merged into contiguous runs; per metric and run, ceil(rows / 500)
    pages (at least 1) of the simulator's rows at `now`. top_intents: one request per
    distinct window the service asks (a window reaching today is its closed part plus today's
    local day, which the project's presets share), assuming no list comes back full."""
    pages = intents = windows_asked = 0
    for i, tz in enumerate(ZONES):
        today = now.astimezone(zone(tz)).date()
        midnight = local_midnight_utc(today, tz)
        days: set[date] = set()
        windows: set[tuple[datetime, datetime]] = set()
        for preset in PRESETS:
            query = Query(project_id(i), *preset_range(preset, today), tz)
            for q in (query, query.previous()):
                first, last = utc_window(q.start, q.end, tz)
                days.update(d for d in utc_days(first, last) if d <= now.date())
                end = last + timedelta(hours=1) - MS
                cut = first < midnight <= end
                windows.update([(first, midnight - MS), (midnight, end)] if cut else [(first, end)])
        for first_day, last_day in day_runs(sorted(days)):
            lo = datetime.combine(first_day, dtime(), UTC)
            hi = datetime.combine(last_day + timedelta(days=1), dtime(), UTC) - MS
            windows_asked += len(LIST_METRICS)
            for m in LIST_METRICS:
                rows = len(rows_between(project_id(i), m, lo, hi, now))
                pages += max(1, math.ceil(rows / PAGE_ROWS))
        intents += len(windows)
    return pages, intents, windows_asked


class Dashboard:
    """The load: Poisson asks at LOAD a second, each a client following Retry-After."""

    def __init__(self, urls: list[str], seed: int) -> None:
        self._urls, self._turn, self._rng = urls, itertools.count(), random.Random(seed)
        self.started = time.monotonic()
        self.first_ask: dict[AnswerId, float] = {}
        self.first_ok: dict[AnswerId, float] = {}
        self.filled_at: float | None = None
        self.filled = asyncio.Event()
        self.outcomes: list[Outcome] = []
        self.problems: Counter[tuple[str, int, str]] = Counter()  # kind, status, problem type
        self.told: Counter[str] = Counter()  # seconds of Retry-After told, by problem type

    def now(self) -> float:
        return time.monotonic() - self.started

    async def run(self, stop: Callable[[], bool]) -> int:
        """Ask until `stop()`; then the asks under way get DRAIN s. Answers those cut."""
        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=512)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            self.started, at, tasks = time.monotonic(), 0.0, set()
            while not stop():
                at += self._rng.expovariate(LOAD)
                await asyncio.sleep(max(0.0, at - self.now()))
                kind = "compare" if self._rng.random() < COMPARE_SHARE else "overview"
                answer = (self._rng.randrange(len(ZONES)), self._rng.choice(PRESETS), kind)
                tasks.add(asyncio.create_task(self._ask(session, answer)))
            _, cut = await asyncio.wait(tasks, timeout=DRAIN)
            for task in cut:
                task.cancel()
            await asyncio.gather(*cut, return_exceptions=True)
        return len(cut)

    async def _ask(self, session: aiohttp.ClientSession, answer: AnswerId) -> None:
        i, preset, kind = answer
        start, end = preset_range(preset, datetime.now(zone(ZONES[i])).date())
        body = {"project_id": project_id(i), "start": str(start), "end": str(end), "tz": ZONES[i]}
        asked, unavailable = self.now(), 0
        self.first_ask.setdefault(answer, asked)
        while True:
            url = self._urls[next(self._turn) % len(self._urls)]
            retry = None
            try:
                async with session.post(f"{url}/api/analytics/{kind}", json=body) as resp:
                    raw, status = await resp.read(), resp.status
                    cache, retry = resp.headers.get("X-Cache", ""), resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as exc:
                raw, status, cache = type(exc).__name__.encode(), 599, ""
            if status != 200:
                problem = _problem_type(raw)
                self.problems[(kind, status, problem)] += 1
                self.told[problem] += int(retry or 0)
            if status != 503:
                break
            unavailable += 1
            await asyncio.sleep(float(retry or 1))
        done = self.now()
        if status == 200 and answer not in self.first_ok:
            self.first_ok[answer] = done
            if len(self.first_ok) == ANSWERS:
                self.filled_at = done
                self.filled.set()
        self.outcomes.append(Outcome(answer, asked, done, status, cache, unavailable))


def _problem_type(raw: bytes) -> str:
    try:
        return str(orjson.loads(raw).get("type", "")).rsplit("/", 1)[-1]
    except (orjson.JSONDecodeError, AttributeError):
        return raw[:60].decode(errors="replace")


def audit(log: list[dict[str, Any]]) -> tuple[int, int, int, int, int, int]:
    """(requests, 429s, pages answered 200 again: of settled windows, of open windows before
    their rows' TTL lapsed, of open windows renewed after it; list-metric windows asked).
    A page is (name, project, startTime, endTime, cursor). An open window's rows (today's)
    live OPEN_DAY_TTL by design: asked again after that, it is a renewal, not a waste."""
    pages: dict[tuple[Any, ...], list[float]] = {}
    for e in log:
        if e["status"] == 200:
            key = (e["name"], e["projectID"], e["startTime"], e["endTime"], e["cursor"])
            pages.setdefault(key, []).append(e["at"])
    closed = early = renewed = 0
    for (*_, end, _), times in pages.items():
        if datetime.fromisoformat(end).timestamp() + 0.001 + SETTLE <= time.time():
            closed += len(times) - 1
            continue
        for before, after in itertools.pairwise(sorted(times)):
            if after - before < OPEN_DAY_TTL:
                early += 1
            else:
                renewed += 1
    windows = sum(name != "top_intents" and cursor is None for name, *_, cursor in pages)
    return len(log), sum(e["status"] == 429 for e in log), closed, early, renewed, windows


def start_webs(sim: Process, redis_url: str, **env: str) -> list[Process]:
    base = {"REDIS_URL": redis_url, "VOICEFLOW_API_KEY": KEY, "VOICEFLOW_ANALYTICS_URL": sim.url}
    return [start_service({**base, "LOG_LEVEL": "INFO", **env}) for _ in range(2)]


def stop(procs: list[Process], tag: str) -> None:
    """SIGTERM each, keep its log as LOGS/<tag>-<n>.log, then let Process clean up."""
    for n, proc in enumerate(procs):
        try:
            proc.kill(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            proc.kill(signal.SIGKILL)
        with contextlib.suppress(OSError):
            shutil.copy(proc.log, LOGS / f"{tag}-{n}.log")
        proc.stop()


def sim_log(sim: Process, tag: str) -> dict[str, Any]:
    """The simulator's stats, its request log kept as LOGS/<tag>.json."""
    stats: dict[str, Any] = sim_control(sim, "stats")
    (LOGS / f"{tag}.json").write_bytes(orjson.dumps(stats["log"]))
    return stats
