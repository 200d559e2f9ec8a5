"""bench/scale.py's figures: each fleet size's upstream cost against N = 1's, and where the
requests went, from the simulator's log (every request it answered, with its window)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from bench.dashboard_load import SETTLE

TARGET = 0.02  # each N's upstream requests within 2% of N = 1's
UPSTREAM = "vfac_upstream_requests"  # by priority and outcome: who sent what
SLOW = 0.9  # a 10 s spell sending less than this share of the rate: the budget sat idle


@dataclass
class Fill:
    began: float = 0.0  # Unix time the clients started
    seconds: float = math.nan  # until the last question had its 200
    tries: Counter[int] = field(default_factory=Counter)  # answers the clients got, by status
    unanswered: int = 0
    redis: tuple[int, float] = (0, 0.0)  # commands Redis processed meanwhile, its CPU seconds


@dataclass
class Run:
    n: int
    fill: Fill
    stats: dict[str, Any]  # the simulator's, at the fill
    webs: Counter[str]  # upstream requests the web processes counted, summed
    warmers: Counter[str]
    warmer_runs: list[dict[str, Any]]  # the acting warmer's reports (its status key)

    again: bool = False  # a repeat of an earlier size: how much runs vary by themselves

    @property
    def label(self) -> str:
        return f"{self.n} again" if self.again else str(self.n)

    @property
    def requests(self) -> int:
        return int(self.stats["requests"])


PARTS = ("past windows", "open windows", "more pages", "top_intents", "429", "other")


def composition(log: list[dict[str, Any]]) -> Counter[str]:
    """A run's requests by PARTS: a list metric's first page of a window with a closed day
    ("past"; a day is closed once it ended SETTLE before the ask) or of open days only (today:
    a first fetch of it, or a renewal), its further pages, top_intents, 429s, other statuses.
    Also "days": UTC (metric, day)s fetched; "again": those fetched again, closed or open."""
    out: Counter[str] = Counter()
    covered: Counter[tuple[str, str, date]] = Counter()

    def closed(day: date, at: float) -> bool:
        return datetime.combine(day + timedelta(days=1), dtime(), UTC).timestamp() + SETTLE <= at

    for e in log:
        if e["status"] != 200:
            out["429" if e["status"] == 429 else "other"] += 1
        elif e["name"] == "top_intents" or e["cursor"] is not None:
            out["top_intents" if e["name"] == "top_intents" else "more pages"] += 1
        else:
            first = datetime.fromisoformat(e["startTime"]).date()
            days = [first + timedelta(days=k) for k in range(_days(e))]
            out["past windows" if closed(days[0], e["at"]) else "open windows"] += 1
            for day in days:
                covered[(e["name"], e["projectID"], day)] += 1
                if covered[(e["name"], e["projectID"], day)] > 1:
                    out["closed again" if closed(day, e["at"]) else "open again"] += 1
    out["days"] = len(covered)
    return out


def _days(entry: dict[str, Any]) -> int:
    first = datetime.fromisoformat(entry["startTime"]).date()
    return (datetime.fromisoformat(entry["endTime"]).date() - first).days + 1


def budget_use(log: list[dict[str, Any]], rate: float) -> str:
    """Requests a second over the run, and the whole 10 s spells that sent under SLOW of it."""
    times = sorted(e["at"] for e in log)
    if len(times) < 2:
        return "-"
    spells = Counter(int((t - times[0]) // 10) for t in times)
    whole = range(int((times[-1] - times[0]) // 10))  # the last, partial spell left out
    idle = [spells[i] for i in whole if spells[i] < SLOW * rate * 10]
    return (
        f"{len(times) / (times[-1] - times[0]):.1f} req/s; 10 s spells under {SLOW:.0%} of the"
        f" rate: {len(idle)} of {len(whole)}" + (f" (requests in them {idle})" if idle else "")
    )


def report(runs: list[Run], rate: float) -> list[str]:
    base = runs[0]
    lines = [
        "  N        upstream  429s  web processes  warmers  fill s  requests / N=1  fill / N=1"
        "  web / N=1"
    ]
    for r in runs:
        ratio = r.requests / base.requests
        lines.append(
            f"  {r.label:7}  {r.requests:8}  {r.stats['rate_limited']:4}  {r.webs.total():13}"
            f"  {r.warmers.total():7}  {r.fill.seconds:6.1f}  {ratio:9.3f}"
            f" {'ok' if abs(ratio - 1) <= TARGET else 'OVER':>4}"
            f"  {r.fill.seconds / base.fill.seconds:10.2f}"
            f"  {r.webs.total() / base.webs.total():9.3f}"
        )
    lines += [
        f"  (upstream: every request the simulator saw until the fill, 429s included; web"
        f" processes / warmers: the requests they counted ({UPSTREAM}); target: within"
        f' {TARGET:.0%} of N=1; "1 again": N=1 once more, last, for how much runs vary by'
        " themselves)",
        "  where they went (simulator log): list-metric windows of past days + windows of"
        " open days only + further pages + top_intents + 429s + other; (metric, UTC day)s"
        " fetched, and fetched again closed / open",
    ]
    parts = [composition(r.stats["log"]) for r in runs]
    for r, c in zip(runs, parts, strict=True):
        delta = ""
        if r is not base:
            diff = [c[p] - parts[0][p] for p in PARTS]
            delta = f"; vs N=1 {sum(diff):+d} = " + " ".join(f"{d:+d}" for d in diff)
        lines.append(
            f"  N={r.label}: {' + '.join(str(c[p]) for p in PARTS)}; days {c['days']}, again"
            f" {c['closed again']} / {c['open again']}{delta}"
        )
    lines.append("  the fill's use of the budget, clients' answers, and who sent what:")
    for r in runs:
        lines.append(
            f"  N={r.label}: {budget_use(r.stats['log'], rate)}; clients got"
            f" {dict(sorted(r.fill.tries.items()))}, unanswered {r.fill.unanswered};"
            f" web {dict(+r.webs)}, warmers {dict(+r.warmers)}; {warmer_runs(r)}; Redis"
            f" {r.fill.redis[0]} commands ({r.fill.redis[0] / r.requests:.0f} per upstream"
            f" request), {r.fill.redis[1]:.1f} s CPU"
        )
    return lines


def warmer_runs(run: Run) -> str:
    """The warmer's runs that began before the fill ended, from their reports."""
    runs = [
        f"{w['job']} at {w['started'] - run.fill.began:+.1f} s: {w['upstream']} requests"
        f" ({w['renewed']} open parts renewed, {w['refreshed']} answers refreshed)"
        for w in run.warmer_runs
        if w["started"] < run.fill.began + run.fill.seconds
    ]
    return "warmer runs " + ("; ".join(runs) if runs else "none")
