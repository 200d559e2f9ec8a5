"""HTTP handlers: parse, ask the analytics layer, send the stored bytes with honest headers."""

from __future__ import annotations

import gzip
import time
from typing import Any

from aiohttp import web

from service.analytics.answers import Answer
from service.analytics.query import parse_query_bytes
from service.http.appkeys import ANALYTICS, CORE, SETTINGS, SOURCE, STORE
from service.http.jsonio import json_response, read_body
from service.http.warmer_status import iso
from service.store.fallback import FallbackStore
from warmer.state import heartbeat_age


async def overview(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    query = parse_query_bytes(
        await read_body(request, settings.max_body_bytes), settings.max_range_days
    )
    answer, status = await request.app[ANALYTICS].overview(query)
    request.app[CORE].popularity.bump("overview", query.canonical())
    return send_answer(request, answer, status)


async def compare(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    query = parse_query_bytes(
        await read_body(request, settings.max_body_bytes), settings.max_range_days
    )
    answer, status = await request.app[ANALYTICS].compare(query)
    request.app[CORE].popularity.bump("compare", query.canonical())
    return send_answer(request, answer, status)


def send_answer(request: web.Request, answer: Answer, status: str) -> web.StreamResponse:
    """The stored bytes as they are when the client takes gzip; 304 when its copy matches."""
    now = time.time()
    etag = f'W/"{answer.etag}"'
    headers = {
        "X-Cache": status,
        "Age": str(max(0, int(now - answer.generated_at))),
        "ETag": etag,
        "Cache-Control": f"private, max-age={max(0, int(answer.fresh_until - now))}",
        "Vary": "Accept-Encoding",
    }
    if etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    if status == "STALE":
        body = answer.stale_json()
        if _accepts_gzip(request):
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
    elif _accepts_gzip(request):
        body, headers["Content-Encoding"] = answer.gz, "gzip"
    else:
        body = gzip.decompress(answer.gz)
    return web.Response(body=body, headers=headers, content_type="application/json")


def _etags(header: str) -> set[str]:
    """If-None-Match values; a strong spelling matches its weak twin (weak comparison)."""
    tags = {t.strip() for t in header.split(",") if t.strip()}
    return tags | {f"W/{t}" for t in tags if not t.startswith("W/")}


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


async def health(request: web.Request) -> web.StreamResponse:
    """Liveness: the process answers. Says which store and data source it runs with."""
    store = request.app[STORE]
    return json_response(
        {
            "status": "ok",
            "store": store.kind,
            "degraded": isinstance(store, FallbackStore) and store.degraded,
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
    if isinstance(store, FallbackStore) and store.degraded:
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
    limit = core.settings.warmer.heartbeat * 3
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
            f"{iso(core.client.auth_failed_at)} and has not accepted it since",
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
