"""`POST /api/export`: the cached overview (and compare) answers, rendered as CSV or PDF.

An export is built from the same cached answers as the dashboard, so exporting a range the
dashboard has shown costs no upstream request. The rendered file is kept briefly too: the
same question again is one store read, with no render.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from service.analytics.answers import CacheStatus
from service.analytics.query import ExportQuery, parse_export
from service.errors import StillFetching
from service.exports.jobs import csv_file, pdf_file
from service.http.appkeys import ANALYTICS, EXPORTS, SETTINGS, SOURCE, STORE
from service.http.jsonio import read_json
from service.http.middlewares import check_project
from service.store.keys import EXPORT_TTL_SECONDS, Keys

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


async def export(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    ask = parse_export(await read_json(request, settings.max_body_bytes), settings.max_range_days)
    query, store = ask.query, request.app[STORE]
    check_project(request, query.project_id)
    # A CSV has no pages: every page_size asks the same question of it.
    page_size = ask.page_size if ask.format == "pdf" else "-"
    key = Keys(request.app[SOURCE]).export(query.canonical(), ask.format, page_size)
    cached = await store.get(key)
    if cached is not None:
        return _file(ask, cached, CacheStatus.HIT)
    analytics = request.app[ANALYTICS]
    if ask.format == "csv":
        overview, status = await analytics.overview(query)
        statuses = {status}
        data = await request.app[EXPORTS].run(csv_file, overview)
    else:
        answers = await asyncio.gather(
            analytics.overview(query), analytics.compare(query), return_exceptions=True
        )
        _raise_the_telling(answers)
        (overview, status), (compare, compare_status) = answers  # type: ignore[misc]
        statuses = {status, compare_status}
        data = await request.app[EXPORTS].run(pdf_file, overview, compare, ask.page_size)
    # A file drawn from a stale answer is not kept: its refresh is already under way.
    if CacheStatus.STALE not in statuses:
        await store.set(key, data, EXPORT_TTL_SECONDS)
    return _file(ask, data, CacheStatus.MISS)


def _raise_the_telling(results: Sequence[object]) -> None:
    """Of the answers' failures, raise the one that tells the client most: any but "still
    fetching" first; else the longest wait (the compare's, which covers both periods)."""
    errors = [r for r in results if isinstance(r, BaseException)]
    if not errors:
        return
    other = [e for e in errors if not isinstance(e, StillFetching)]
    if other:
        raise other[0]
    raise max(errors, key=lambda e: getattr(e, "retry_after", 0) or 0)


def _file(ask: ExportQuery, data: bytes, cache: CacheStatus) -> web.Response:
    q = ask.query
    # project_id is [A-Za-z0-9_-] and the dates are ISO, so the name needs no quoting rules.
    name = f"{q.project_id}_{q.start.isoformat()}_{q.end.isoformat()}.{ask.format}"
    return web.Response(
        body=data,
        headers={
            "Content-Type": CONTENT_TYPES[ask.format],
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Cache": cache,
            "Cache-Control": "private, no-store",  # customer data: no copies on the way
        },
    )
