"""The answer routes: parse, ask the analytics layer, send the stored bytes with honest
headers. Overview and compare differ only in the kind of answer they ask for."""

from __future__ import annotations

import functools
import gzip
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from service import metrics
from service.analytics.answers import Answer, CacheStatus
from service.analytics.query import Query, parse_query_bytes
from service.analytics.service import AnswerKind
from service.http.appkeys import ANALYTICS, CORE, SETTINGS
from service.http.jsonio import read_body
from service.http.middlewares import check_project

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def answer_view(kind: AnswerKind) -> Handler:
    """The handler of one kind of answer (`POST /api/analytics/<kind>`; the GET is in
    `cacheable`)."""

    async def view(request: web.Request) -> web.StreamResponse:
        app = request.app
        settings = app[SETTINGS]
        query = parse_query_bytes(
            await read_body(request, settings.max_body_bytes), settings.max_range_days
        )
        if settings.api_tokens:  # only a token has a scope (skipped, a hit is cheaper)
            check_project(request, query.project_id)
        answer, status = await app[ANALYTICS].answer(kind, query)
        counted(app, kind, query, answer)
        return send_answer(request, answer, status)

    view.__name__ = kind
    return view


def counted(app: web.Application, kind: AnswerKind, query: Query, answer: Answer) -> None:
    """An answer served, however it was asked (POST body or GET parameters): counted for
    the warmer's popularity and for the metrics. (The token's scope is checked before the
    answer is asked for: `check_project`.)"""
    app[CORE].popularity.bump(kind, query.canonical())
    if app[SETTINGS].metrics_enabled:
        metrics.REQUESTS.answer_age(kind, time.time() - answer.generated_at)


def send_answer(request: web.Request, answer: Answer, status: CacheStatus) -> web.StreamResponse:
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
    return send_bytes(request, answer, status, headers)


def send_bytes(
    request: web.Request, answer: Answer, status: CacheStatus, headers: dict[str, str]
) -> web.StreamResponse:
    """The answer's body (or a 304 when the client's copy matches) with these headers."""
    matches = request.headers.get("If-None-Match")
    if matches and headers["ETag"] in _etags(matches):
        return web.Response(status=304, headers=headers)
    if status is CacheStatus.STALE:
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
    return _takes_gzip(request.headers.get("Accept-Encoding", ""))


@functools.lru_cache(maxsize=64)  # clients send a handful of spellings, over and over
def _takes_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
