"""The ops page's HTML: what `ops.py` gathered, as sections a person reads top to bottom.

Every value goes through `ops_format` (escaped there); nothing here reads the store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.analytics.answers import Answer
from service.http.ops_charts import Reference, Series, chart, legend, window
from service.http.ops_format import DASH, clock, esc, num, pct, rate, relative, short, span
from service.http.ops_history import EVERY, Interval
from service.http.ops_style import STYLE
from service.http.ops_tables import plan_section, top_section
from warmer.jobs import Candidate, Decision


@dataclass(frozen=True, slots=True)
class BudgetNow:
    tokens: float | None  # None: the store did not answer
    paused_until: float
    rate: float  # now (learned when probing)
    configured: float
    burst: float
    background_share: float
    warmer_share: float
    probing: bool


@dataclass(frozen=True, slots=True)
class Page:
    now: float
    source: str  # "demo" or "voiceflow"
    store: str  # how this process keeps its cache, in words
    warmer_where: str
    leader: str | None
    heartbeat: dict[str, Any] | None
    status: dict[str, Any]  # the warmer's report (warmer/state.py)
    budget: BudgetNow
    pid: int
    history_since: float
    intervals: Sequence[Interval]  # oldest first; the last one partial, up to now
    window: Interval | None  # the whole history as one interval
    counted: bool  # METRICS_ENABLED: requests are counted
    top: Sequence[tuple[Candidate, Answer | None]]
    plan: Sequence[Decision]
    plan_note: str


def page(p: Page) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{EVERY:.0f}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,"><title>vf-analytics-cache · ops</title>'
        f"<style>{STYLE}</style></head><body>"
        f"<header><h1>vf-analytics-cache <span>ops</span></h1><p>{_tagline(p)}</p></header>"
        f"{_cards(p)}{_jobs(p)}{_traffic(p)}{top_section(p.top, p.now)}"
        f"{plan_section(p.plan, p.plan_note)}"
        "<footer>Machine-readable: <code>GET /api/warmer/status</code>, "
        "<code>GET /metrics</code>, <code>python -m warmer plan</code>.</footer>"
        "</body></html>"
    )


def _tagline(p: Page) -> str:
    source = "Demo data (the bundled simulator)" if p.source == "demo" else "Voiceflow data"
    return (
        f"{esc(source)} · {esc(p.store)} · warmer {esc(p.warmer_where)} · "
        f"page made {esc(clock(p.now))}, refreshed every {EVERY:.0f} s"
    )


def _card(title: str, value: str, note: str, tone: str = "") -> str:
    return (
        f'<div class="card {tone}"><h3>{esc(title)}</h3><p class="big">{value}</p>'
        f"<p>{note}</p></div>"
    )


def _cards(p: Page) -> str:
    beat = p.heartbeat
    warmer = (
        _card("Warmer", "no heartbeat", "no warmer has beaten lately: answers go colder", "bad")
        if beat is None
        else _card(
            "Warmer",
            esc(p.leader or beat["id"]),
            f"acting leader; last heartbeat {relative(beat['at'], p.now)}",
            "good",
        )
    )
    w = p.window
    hits = _card(
        "Hit ratio, last 10 min",
        pct(w.hit_ratio if w else None),
        "HIT or STALE among answers this process served"
        if p.counted
        else "METRICS_ENABLED=false: requests are not counted",
    )
    upstream = _card(
        "Upstream, last 10 min",
        num((w.user + w.background) * w.seconds) if w else DASH,
        f"requests sent by this process · {_limited(w.limited * w.seconds if w else 0)}",
    )
    b = p.budget
    paused = b.paused_until > p.now
    budget = _card(
        "Fleet budget now",
        f"{num(b.tokens, 1)} <small>of {num(b.burst)} tokens</small>",
        f"paused until {relative(b.paused_until, p.now)} after a 429"
        if paused
        else f"refills at {esc(rate(b.rate))}; not paused",
        "bad" if paused else "",
    )
    return f'<section class="cards">{warmer}{hits}{upstream}{budget}</section>'


def _limited(count: float) -> str:
    return (
        "none rate limited" if count < 0.5 else f'<span class="bad">{num(count)} got a 429</span>'
    )


_INTERVAL = re.compile(r"interval\[(\d+):(\d\d):(\d\d)\]")
_DAILY = re.compile(r"cron\[hour='(\d+)', minute='(\d+)', second='(\d+)'\]")


def _trigger(raw: str) -> str:
    if m := _INTERVAL.fullmatch(raw):
        h, mi, s = (int(g) for g in m.groups())
        return f"every {span(h * 3600 + mi * 60 + s)}"
    if m := _DAILY.fullmatch(raw):
        h, mi, s = (int(g) for g in m.groups())
        return f"daily at {h:02d}:{mi:02d}:{s:02d}"
    return raw


def _report(run: dict[str, Any] | None) -> str:
    if run is None:
        return '<span class="muted">not run yet</span>'
    parts = [
        f"{num(run[k])} {k}"
        for k in ("refreshed", "fresh", "running", "failed", "deferred")
        if run.get(k) or k in ("refreshed", "fresh")
    ]
    out = f"{num(run['candidates'])} candidates: {', '.join(parts)}"
    if run.get("renewed"):
        out += f"; {num(run['renewed'])} open parts renewed"
    out += (
        f"<br>{num(run['upstream'])} upstream requests of {num(run['allowance'])} allowed "
        f"({pct(run['upstream'] / run['allowance'] if run['allowance'] else None)})"
    )
    if run.get("stopped_early"):
        out += f'<br><span class="warn">stopped early: {esc(run["stopped_early"])}</span>'
    for error in run.get("errors", []):
        out += f'<br><span class="bad">{esc(error)}</span>'
    return out


def _jobs(p: Page) -> str:
    schedule = p.status.get("schedule", [])
    runs = p.status.get("last_runs", {})
    if not schedule:
        why = (
            f"Warmer {esc(p.heartbeat['id'])} is up but has not finished a run yet: its report "
            "comes when it does."
            if p.heartbeat
            else "No warmer has reported yet. With REDIS_URL set, run <code>python -m warmer"
            "</code> beside the web processes."
        )
        return f'<section><h2>Warmer jobs</h2><p class="empty">{why}</p></section>'
    rows = []
    for job in schedule:
        run = runs.get(job["id"].split("@")[0])
        last = DASH
        if run is not None:
            took = span(run["finished"] - run["started"])
            last = f"{relative(run['started'], p.now)}<br><small>took {esc(took)}</small>"
        rows.append(
            f"<tr><td><b>{esc(job['name'])}</b><br><small>{esc(job['id'])}</small></td>"
            f"<td>{esc(_trigger(job['trigger']))}</td><td>{last}</td>"
            f"<td>{relative(job.get('next_run'), p.now)}</td><td>{_report(run)}</td></tr>"
        )
    cfg = p.status.get("config") or {}
    by = (p.status.get("leader") or {}).get("id")
    note = (
        f"Every {span(cfg.get('interval', 0))}: the top {num(cfg.get('top_k'))} answers by "
        f"popularity (half-life {span(cfg.get('half_life', 0))}), refreshed when they go stale "
        f"within the interval + {span(cfg.get('margin', 0))}, within "
        f"{pct(cfg.get('budget_share'))} of the budget. Last report "
        f"{relative(p.status.get('updated_at'), p.now)} by {esc(by)}."
    )
    return (
        f'<section><h2>Warmer jobs</h2><p class="note">{note}</p><table class="jobs"><thead><tr>'
        "<th>Job</th><th>Trigger</th><th>Last run</th><th>Next run</th><th>Last report</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def per_second(value: float) -> str:
    return f"{short(value)}/s"


def _traffic(p: Page) -> str:
    starts = [i.start for i in p.intervals]
    ends = [i.start + i.seconds for i in p.intervals]
    b = p.budget
    shown = window(p.now - p.history_since)

    def one(title: str, caption: str, **kw: Any) -> str:
        svg = chart(label=title, starts=starts, ends=ends, now=p.now, span=shown, **kw)
        return f"<figure><figcaption><b>{esc(title)}</b> {caption}</figcaption>{svg}</figure>"

    api = [Series("/api/* requests", "#2f6fdf", [i.api for i in p.intervals])]
    hits = [Series("served from the cache", "#1b8a5a", [i.hit_ratio for i in p.intervals])]
    upstream = [
        Series("user", "#e07b00", [i.user for i in p.intervals]),
        Series("background and warming", "#7a5bd0", [i.background for i in p.intervals]),
    ]
    tokens = [Series("tokens", "#2f6fdf", [i.tokens for i in p.intervals])]
    charts = (
        one("Requests per second", legend(api), series=api, y_format=per_second)
        + one("Hit ratio", "HIT or STALE, among answers", series=hits, y_format=pct, y_max=1.0)
        + one(
            "Upstream requests per second",
            legend(upstream),
            series=upstream,
            y_format=per_second,
            reference=Reference(b.rate, f"fleet budget {rate(b.rate)}"),
        )
        + one(
            "Fleet bucket",
            f"tokens left of {num(b.burst)} (read from the store: the whole fleet's)",
            series=tokens,
            y_format=short,
            y_max=b.burst,
            line=True,
        )
    )
    since = (
        f"since {clock(p.history_since)}" if p.history_since > p.now - 600 else "the last 10 min"
    )
    paused = (
        f"paused for {esc(span(b.paused_until - p.now))} more (after a 429)"
        if b.paused_until > p.now
        else "not paused"
    )
    learned = (
        f"learned {esc(rate(b.rate))} (configured {esc(rate(b.configured))})"
        if b.probing
        else esc(rate(b.rate))
    )
    budget = (
        f"<dl><dt>Rate</dt><dd>{learned}</dd><dt>Bucket</dt><dd>{num(b.tokens, 1)} of "
        f"{num(b.burst)} tokens</dd><dt>Background</dt><dd>{pct(b.background_share)} of the rate "
        f"({esc(rate(b.rate * b.background_share))})</dd><dt>Warmer per run</dt>"
        f"<dd>{pct(b.warmer_share)} of the rate</dd><dt>Pause</dt><dd>{paused}</dd></dl>"
    )
    return (
        f'<section><h2>Budget and traffic</h2>{budget}<p class="note">The charts show this '
        f"process only (pid {p.pid}, {esc(since)}, one bar per {EVERY:.0f} s, the last one up to "
        "now); the fleet-wide history is in Prometheus/Grafana (<code>GET /metrics</code> of "
        f'every process).</p><div class="charts">{charts}</div></section>'
    )
