"""`GET /api/analytics/<kind>`: the POST's question as query parameters, answered from the
same cache entry, with headers a shared cache may act on. Browsers, CDNs and Next.js's fetch
cache store GET answers only.

Freshness is stated the way caches compute it: `max-age` is the answer's whole fresh
lifetime and `Age` how much of it has gone (the POST's `max-age` is what is left, for
clients that read it directly). `stale-while-revalidate` and `stale-if-error` are the
answer's own stale window (CACHE_STALE_SECONDS): as long as the service itself serves it
as STALE, while it refreshes or while Voiceflow fails. `public` only when no API token is
needed to read it; else `private`, varying on Authorization.
"""

from __future__ import annotations

import functools
import time

from aiohttp import web

from service.analytics.answers import Answer, CacheStatus
from service.analytics.query import parse_query_params
from service.analytics.service import AnswerKind
from service.http.appkeys import ANALYTICS, SETTINGS
from service.http.middlewares import check_project
from service.http.views import Handler, counted, send_bytes


@functools.cache
def vary(*, private: bool, cors: bool) -> str:
    """What a shared cache must key a GET answer on besides its URL: the token when one is
    needed; the Origin when CORS_ORIGINS is set (Access-Control-Allow-Origin echoes it)."""
    return ", ".join(("Authorization",) * private + ("Origin",) * cors + ("Accept-Encoding",))


def answer_get_view(kind: AnswerKind) -> Handler:
    """The handler of `GET /api/analytics/<kind>?project_id=…&start=…&end=…`."""

    async def view(request: web.Request) -> web.StreamResponse:
        app = request.app
        settings = app[SETTINGS]
        query = parse_query_params(tuple(request.query.items()), settings.max_range_days)
        if settings.api_tokens:  # only a token has a scope (skipped, a hit is cheaper)
            check_project(request, query.project_id)
        answer, status = await app[ANALYTICS].answer(kind, query)
        counted(app, kind, query, answer)
        private = bool(settings.api_tokens)
        headers = shared_headers(answer, status, private=private, cors=bool(settings.cors_origins))
        return send_bytes(request, answer, status, headers)

    view.__name__ = f"get_{kind}"
    return view


def shared_headers(
    answer: Answer,
    status: CacheStatus,
    *,
    private: bool,
    cors: bool = False,
    now: float | None = None,
) -> dict[str, str]:
    """The cache headers of a GET answer (see the module's docstring)."""
    now = time.time() if now is None else now
    # Rounded: (t + ttl) - t is ttl give or take a float's last bit.
    lifetime = max(0, round(answer.fresh_until - answer.generated_at))
    stale = max(0, round(answer.usable_until - answer.fresh_until))
    scope = "private" if private else "public"
    return {
        "X-Cache": status,
        "Age": str(max(0, int(now - answer.generated_at))),
        "ETag": f'W/"{answer.etag}"',
        "Cache-Control": f"{scope}, max-age={lifetime}, stale-while-revalidate={stale}, "
        f"stale-if-error={stale}",
        "Vary": vary(private=private, cors=cors),
    }
