"""`GET /api/warmer/status`: what the warmer did, will do, and how fresh the top answers are."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from service.analytics.query import Query
from service.fleet.popularity import parse_member
from service.http.appkeys import CORE
from service.http.jsonio import json_response
from service.timefmt import iso_utc
from warmer.state import heartbeat, read_status

TOP_SHOWN = 20  # popular answers listed with their freshness


async def warmer_status(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    now = time.time()
    status = await read_status(core.store, core.keys)
    beat = await heartbeat(core.store, core.keys)
    settings = core.settings
    learned = core.budget.learned
    runs = {job: _run(report) for job, report in status.get("last_runs", {}).items()}
    return json_response(
        {
            "leader": await _lease_holder(request),
            "leader_since": iso_utc(status.get("leader", {}).get("since")),
            "last_report_by": status.get("leader", {}).get("id"),
            "heartbeat": None
            if beat is None
            else {
                "id": beat["id"],
                "age_seconds": round(now - beat["at"], 1),
                "leader": beat["leader"],
            },
            "jobs": [
                {
                    **job,
                    "next_run": iso_utc(job["next_run"]),
                    "last_run": runs.get(job["id"].split("@")[0]),
                }
                for job in status.get("schedule", [])
            ],
            "config": status.get("config"),
            "budget": {
                "upstream_rate_per_second": settings.upstream_rate,
                "background_share": settings.upstream_background_share,
                "warmer_share_per_run": settings.warmer.budget_share,
                "upstream_rate_max_per_second": settings.upstream_rate_max,
                # None unless probing: then the rate the fleet has learned, shared by all.
                "learned_rate": None if learned is None else await learned.status(),
            },
            "top": await _top(request, now),
            "updated_at": iso_utc(status.get("updated_at")),
        }
    )


async def _lease_holder(request: web.Request) -> str | None:
    """Who holds the leader lease now (its value is "<warmer id>#<random>")."""
    core = request.app[CORE]
    raw = await core.store.get(core.keys.warmer_leader)
    return None if raw is None else raw.decode().split("#", 1)[0]


def _run(report: dict[str, Any]) -> dict[str, Any]:
    return {
        **report,
        "started": iso_utc(report["started"]),
        "finished": iso_utc(report["finished"]),
        "seconds": round(report["finished"] - report["started"], 2),
    }


async def _top(request: web.Request, now: float) -> list[dict[str, Any]]:
    core = request.app[CORE]
    out = []
    for name, score in await core.popularity.top(TOP_SHOWN):
        kind, canonical = parse_member(name)
        try:
            query = Query.from_canonical(canonical)
        except ValueError:
            continue
        answer = await core.analytics.peek(kind, query)
        state = "missing" if answer is None else "fresh" if now < answer.fresh_until else "stale"
        out.append(
            {
                "kind": kind,
                "project_id": query.project_id,
                "start": query.start.isoformat(),
                "end": query.end.isoformat(),
                "tz": query.tz,
                "environment_id": query.environment_id,
                "score": round(score, 3),
                "state": state,
                "fresh_until": iso_utc(answer.fresh_until) if answer else None,
                "stale_in_seconds": round(answer.fresh_until - now) if answer else None,
            }
        )
    return out
