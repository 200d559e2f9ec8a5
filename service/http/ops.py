"""`GET /ops`: one HTML page for the people who tune the warmer, behind ADMIN_TOKEN.

What `GET /api/warmer/status` serves (jobs, their last and next runs and reports), the top
answers and how long until they go stale, the fleet budget now, this process's last ten
minutes (`ops_history`), and what `python -m warmer plan` would print. Server-rendered, no
script, no asset: `ops_render` writes it, `ops_charts` draws it.

A browser cannot send a bearer token when it navigates, so the page also takes HTTP Basic
auth (any user name, ADMIN_TOKEN as the password). The `api_token` check covers /api/*
only: the check is here. Unset ADMIN_TOKEN: 403, the page is never open.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from service.analytics.answers import Answer
from service.core import Core
from service.http.appkeys import CORE, OPS_HISTORY, SETTINGS, SOURCE
from service.http.ops_format import esc, num, pct, rate, span
from service.http.ops_history import History, between, read_counters, sampling
from service.http.ops_render import BudgetNow, Page, page
from warmer.jobs import Candidate, Decision, plan, popular
from warmer.state import heartbeat, read_status

REALM = 'Basic realm="vf-analytics-cache ops"'
TOP_SHOWN = 20  # popular answers listed with their freshness
HEADERS = {
    "Cache-Control": "no-store",
    # Nothing but itself: inline styles, inline SVG, no script, no request elsewhere.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@asynccontextmanager
async def sampler(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: sample this process's counters for the page while the app runs."""
    history = app[OPS_HISTORY] = History()
    async with sampling(history, app[CORE].budget.level):
        yield


def authorized(header: str, token: str) -> bool:
    """`Bearer <token>`, or `Basic` with the token as the password (any user name)."""
    scheme, _, value = header.partition(" ")
    given: str | None = None
    if scheme.lower() == "bearer":
        given = value.strip()
    elif scheme.lower() == "basic":
        try:
            user_pass = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, colon, given = user_pass.partition(":")
        if not colon:
            return False
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _short(
    status: int, title: str, text: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" '
        f'href="data:,"><title>{esc(title)}</title></head><body style="font: 15px/1.5 '
        f'system-ui, sans-serif; margin: 40px"><h1 style="font-size: 20px">{esc(title)}</h1>'
        f"<p>{esc(text)}</p></body></html>"
    )
    return web.Response(
        text=body, status=status, content_type="text/html", headers={**HEADERS, **(headers or {})}
    )


async def ops(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if settings.admin_token is None:
        return _short(
            403,
            "The ops page is off",
            "Set ADMIN_TOKEN to open it, then sign in with the token as the password.",
        )
    if not authorized(request.headers.get("Authorization", ""), settings.admin_token.reveal()):
        return _short(
            401,
            "Sign in",
            "The ops page needs ADMIN_TOKEN: any user name, the token as the password "
            "(or Authorization: Bearer <token>).",
            {"WWW-Authenticate": REALM},
        )
    core = request.app[CORE]
    now = time.time()
    status, beat, leader = await asyncio.gather(
        read_status(core.store, core.keys), heartbeat(core.store, core.keys), _lease_holder(core)
    )
    (tokens, paused), fleet_rate = await asyncio.gather(core.budget.level(), core.budget.rate())
    top, decisions = await asyncio.gather(_top(core), plan(core, settings.warmer.interval))
    history = request.app.get(OPS_HISTORY) or History()
    current = read_counters(now, tokens)
    first = history.samples[0] if history.samples else None
    body = page(
        Page(
            now=now,
            source=request.app[SOURCE],
            store=_store(core),
            warmer_where=_warmer_where(core),
            leader=leader,
            heartbeat=beat,
            status=status,
            budget=BudgetNow(
                tokens=tokens,
                paused_until=paused,
                rate=fleet_rate,
                configured=settings.upstream_rate,
                burst=settings.upstream_burst,
                background_share=settings.upstream_background_share,
                warmer_share=settings.warmer.budget_share,
                probing=core.budget.learned is not None,
            ),
            pid=os.getpid(),
            history_since=first.at if first else now,
            intervals=history.intervals(current),
            window=None if first is None else between(first, current),
            counted=settings.metrics_enabled,
            top=top,
            plan=decisions,
            plan_note=_plan_note(core, decisions, fleet_rate),
        )
    )
    return web.Response(text=body, content_type="text/html", headers=HEADERS)


async def _lease_holder(core: Core) -> str | None:
    """Who holds the leader lease now (its value is "<warmer id>#<random>")."""
    raw = await core.store.get(core.keys.warmer_leader)
    return None if raw is None else raw.decode().split("#", 1)[0]


async def _top(core: Core) -> list[tuple[Candidate, Answer | None]]:
    candidates = await popular(core, TOP_SHOWN)
    answers = await asyncio.gather(*(core.analytics.peek(c.kind, c.query) for c in candidates))
    return list(zip(candidates, answers, strict=True))


def _store(core: Core) -> str:
    name = core.settings.store_name
    if core.store.degraded:
        return f"{name} unreachable: serving from this process's memory"
    return "in-process store (no REDIS_URL)" if name == "in-process store" else name


def _warmer_where(core: Core) -> str:
    if core.settings.shared_store:
        return "in its own processes (python -m warmer)"
    return "inside this process" if core.settings.warmer_embedded else "off (WARMER_EMBEDDED=false)"


def _plan_note(core: Core, decisions: list[Decision], fleet_rate: float) -> str:
    cfg = core.settings.warmer
    refresh = [d for d in decisions if d.action == "refresh"]
    running = sum(d.action == "running" for d in decisions)
    allowance = cfg.budget_share * fleet_rate * cfg.interval
    todo = (
        f"<b>{len(refresh)} to refresh</b> (at least "
        f"{num(sum(d.estimate or 0 for d in refresh))} upstream requests)"
        if refresh
        else "<b>Nothing to refresh</b>"
    )
    return (
        f"What the next runs would do, as <code>python -m warmer plan</code> prints it (nothing "
        f"is fetched to tell): the {num(len(cfg.projects))} configured projects' presets and "
        f"the top {num(cfg.top_k)} answers by popularity; those going stale within "
        f"{esc(span(cfg.interval))} + {esc(span(cfg.margin))} margin are refreshed, within "
        f"{pct(cfg.budget_share)} of {esc(rate(fleet_rate))} = {num(allowance)} upstream "
        f"requests a run. {todo}, {len(decisions) - len(refresh) - running} fresh, "
        f"{running} being refreshed now."
    )
