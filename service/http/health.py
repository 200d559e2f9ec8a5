"""Monitoring's routes: liveness (`/health`) and readiness (`/health/ready`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.http.appkeys import CORE, SETTINGS, SOURCE, STORE
from service.http.jsonio import json_response
from service.timefmt import iso_utc
from warmer.state import heartbeat_age


async def health(request: web.Request) -> web.StreamResponse:
    """Liveness: the process answers. Says which store and data source it runs with."""
    store = request.app[STORE]
    return json_response(
        {
            "status": "ok",
            "store": store.kind,
            "degraded": store.degraded,
            "source": request.app[SOURCE],
            "embedded": _embedded(request),
        }
    )


async def ready(request: web.Request) -> web.StreamResponse:
    """Readiness: 503 naming the failing checks; 200 when it can serve, even degraded."""
    checks: dict[str, dict[str, Any]] = {
        "store": await _store_check(request),
        "upstream": _upstream_check(request),
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
            "detail": "Redis unreachable: serving from the in-process store and this "
            "process's share of the upstream budget until it is back",
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


def _upstream_check(request: web.Request) -> dict[str, str]:
    """Fails while Voiceflow rejects the configured key: nothing new can be fetched."""
    core = request.app[CORE]
    if core.client.auth_failed_at is not None:
        return {
            "status": "fail",
            "detail": "Voiceflow rejected VOICEFLOW_API_KEY (401) at "
            f"{iso_utc(core.client.auth_failed_at)} and has not accepted it since",
        }
    if request.app[SOURCE] == "demo":
        return {"status": "ok", "detail": "demo data from the bundled simulator"}
    return {"status": "ok", "detail": "VOICEFLOW_API_KEY is configured"}


def _embedded(request: web.Request) -> list[str]:
    settings = request.app[SETTINGS]
    notes = []
    if settings.redis_url is None:
        notes.append("in-process store (no REDIS_URL): cache is per process")
    if settings.voiceflow_api_key is None:
        notes.append("demo data from the bundled Voiceflow simulator (no VOICEFLOW_API_KEY)")
    return notes
