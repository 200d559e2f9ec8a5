"""Monitoring's routes: liveness (`/health`) and readiness (`/health/ready`)."""

from __future__ import annotations

import os
import time
from typing import Any

from aiohttp import web

from service.http.appkeys import CORE, SETTINGS, SOURCE, STORE, WORKER
from service.http.jsonio import json_response
from service.timefmt import iso_utc
from warmer.state import heartbeat_age


async def health(request: web.Request) -> web.StreamResponse:
    """Liveness: the process answers. Says which store and data source it runs with, and
    which of the host's web processes (WEB_CONCURRENCY) answered."""
    store = request.app[STORE]
    worker = request.app[WORKER]
    return json_response(
        {
            "status": "ok",
            "store": store.kind,
            "degraded": store.degraded,
            "source": request.app[SOURCE],
            "embedded": _embedded(request),
            "worker": {"index": worker.index, "pid": os.getpid(), "of": worker.of},
        }
    )


async def ready(request: web.Request) -> web.StreamResponse:
    """Readiness: 503 naming the failing checks; 200 when it can serve, even degraded."""
    checks: dict[str, dict[str, Any]] = {
        "store": await _store_check(request),
        "upstream": await _upstream_check(request),
        "warmer": await _warmer_check(request),
    }
    states = {check["status"] for check in checks.values()}
    failing = sorted(name for name, check in checks.items() if check["status"] == "fail")
    status = "fail" if failing else "degraded" if "degraded" in states else "ok"
    body = {"status": status, "failing": failing, "checks": checks}
    return json_response(body, status=503 if failing else 200)


async def _store_check(request: web.Request) -> dict[str, str]:
    store = request.app[STORE]
    try:
        await store.ping()
    except Exception as exc:  # whatever the cause, the store cannot be used right now
        return {
            "status": "fail",
            "kind": store.kind,
            "detail": f"store unreachable ({type(exc).__name__})",
        }
    if store.degraded:
        return {
            "status": "degraded",
            "kind": store.kind,
            "detail": f"{request.app[SETTINGS].store_name} unreachable: serving from the "
            "in-process store and this process's share of the upstream budget until it is back",
        }
    return {"status": "ok", "kind": store.kind}


async def _warmer_check(request: web.Request) -> dict[str, Any]:
    """Degraded, not failed, when no warmer beats: answers are still served, only colder."""
    core = request.app[CORE]
    try:
        age = await heartbeat_age(core.store, core.keys)
    except Exception as exc:  # the store check reports the store itself
        return {"status": "degraded", "detail": f"heartbeat unreadable ({type(exc).__name__})"}
    limit = core.settings.warmer.heartbeat_ttl
    if age is None:
        return {
            "status": "degraded",
            "heartbeat_age_seconds": None,
            "detail": "no warmer heartbeat: is `python -m warmer` running?",
        }
    state = "ok" if age <= limit else "degraded"
    return {"status": state, "heartbeat_age_seconds": round(age, 1)}


async def _upstream_check(request: web.Request) -> dict[str, Any]:
    """Fails while Voiceflow rejects the configured key (nothing new can be fetched), as the
    fleet's last key check found; degraded while Voiceflow itself fails: its outage is no
    reason to leave rotation. The check runs in the background (upstream/keycheck.py), so a
    probe does not wait on Voiceflow, and a pod out of rotation still sees the key fixed."""
    if request.app[SOURCE] == "demo":
        return {"status": "ok", "detail": "demo data from the bundled simulator"}
    try:
        result = await request.app[CORE].keycheck.result()
    except Exception as exc:  # the store check reports the store itself
        return {"status": "degraded", "detail": f"key check unreadable ({type(exc).__name__})"}
    checked = result.checked_at
    return {
        "status": result.status,
        "detail": result.detail,
        "project": result.project,
        "checked_at": iso_utc(checked),
        "age_seconds": None if checked is None else round(max(0.0, time.time() - checked), 1),
    }


def _embedded(request: web.Request) -> list[str]:
    settings = request.app[SETTINGS]
    notes = []
    if not settings.shared_store:
        if settings.cache_dir is None:
            notes.append("in-process store (no REDIS_URL): cache is per process")
        else:
            notes.append("file store (CACHE_DIR): kept across restarts, for this one process")
        if settings.web_concurrency > 1:
            notes.append(
                f"one process, not WEB_CONCURRENCY={settings.web_concurrency}: needs REDIS_URL "
                "or DATABASE_URL"
            )
    if settings.voiceflow_api_key is None:
        notes.append("demo data from the bundled Voiceflow simulator (no VOICEFLOW_API_KEY)")
    return notes
