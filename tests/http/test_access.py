"""Every request is observed without a middleware: the routes' own, the CORS preflights,
and those no route matched (404, 405), with and without tokens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from service import logs, metrics
from service.app import create_app
from service.config.settings import Settings
from service.http.access import CLIENT_GONE, UNMATCHED, observed
from tests.conftest import PROJECT, body
from tests.http.conftest import JsonLogs
from tests.http.test_observability import scrape, total

OVERVIEW = "/api/analytics/overview"
TOKEN = "alice-token-0123456789"
ORIGIN = "https://dash.example.com"


def served(route: str, status: int) -> float:
    """Requests counted for `GET /metrics` under this route label and status, so far."""
    return sum(
        sample.value
        for family in metrics.REQUESTS.collect()
        if family.name == "vfac_http_requests"
        for sample in family.samples
        if sample.labels["route"] == route and sample.labels["status"] == str(status)
    )


@pytest.mark.parametrize(
    "env", [{}, {"API_TOKENS": f"alice={TOKEN}:*", "ADMIN_TOKEN": "admin-token-0123456789"}]
)
def test_the_app_has_no_middleware(env: dict[str, str]) -> None:
    """With no middleware aiohttp builds no chain for a request: tokens or not."""
    assert list(create_app(Settings.from_env(env)).middlewares) == []


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_request_no_route_matched_is_observed_like_any_other(
    client: Any, json_logs: JsonLogs
) -> None:
    """404, and 405 on a hot route's path: problem+json, the id echoed, counted under the
    route "unmatched", one access line each."""
    before = await scrape(client)
    nope = await client.get("/api/nope", headers={"X-Request-ID": "r-404"})
    assert nope.status == 404 and nope.content_type == "application/problem+json"
    assert nope.headers["X-Request-ID"] == "r-404"
    assert (await nope.json())["detail"] == "no route /api/nope"
    wrong = await client.put(OVERVIEW, headers={"X-Request-ID": "r-405"})
    assert wrong.status == 405 and wrong.content_type == "application/problem+json"
    assert wrong.headers["X-Request-ID"] == "r-405"
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
    after = await scrape(client)
    for status in ("404", "405"):
        name, labels = "vfac_http_requests_total", {"route": UNMATCHED, "status": status}
        assert total(after, name, **labels) - total(before, name, **labels) == 1

    lines = {r["request_id"]: r for r in json_logs.records() if r["logger"] == "service.access"}
    assert [lines["r-404"][k] for k in ("method", "route", "path", "status")] == [
        "GET",
        UNMATCHED,
        "/api/nope",
        404,
    ]
    assert [lines["r-405"][k] for k in ("method", "route", "path", "status")] == [
        "PUT",
        UNMATCHED,
        OVERVIEW,
        405,
    ]


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_the_hot_routes_and_the_others_echo_and_log(client: Any, json_logs: JsonLogs) -> None:
    """The answers by POST and GET, and a route that is not hot, each echo the id and write
    an access line labelled with the route's template."""
    query = f"?project_id={PROJECT}&start=2025-01-01&end=2025-01-31"
    post = await client.post(OVERVIEW, json=body(), headers={"X-Request-ID": "p"})
    get = await client.get(OVERVIEW + query, headers={"X-Request-ID": "g"})
    health = await client.get("/health", headers={"X-Request-ID": "h"})
    for resp, rid in ((post, "p"), (get, "g"), (health, "h")):
        assert resp.status == 200 and resp.headers["X-Request-ID"] == rid
    lines = {r["request_id"]: r for r in json_logs.records() if r["logger"] == "service.access"}
    assert [(lines[rid]["method"], lines[rid]["route"]) for rid in "pgh"] == [
        ("POST", OVERVIEW),
        ("GET", OVERVIEW),
        ("GET", "/health"),
    ]
    assert lines["p"]["cache"] == "MISS" and lines["g"]["cache"] == "HIT"


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_with_tokens_the_token_is_checked_before_the_route_is_missed(
    make_client: Any,
) -> None:
    """As before: an unknown /api/ path wants a token first (401), then is a 404; a path
    outside /api/ needs none; the 401 is observed too."""
    client = await make_client(API_TOKENS=f"alice={TOKEN}:*")
    refused = await client.get("/api/nope", headers={"X-Request-ID": "no-token"})
    assert refused.status == 401 and refused.content_type == "application/problem+json"
    assert refused.headers["X-Request-ID"] == "no-token"
    known = await client.get("/api/nope", headers={"Authorization": f"Bearer {TOKEN}"})
    assert known.status == 404 and known.content_type == "application/problem+json"
    assert (await client.get("/nope")).status == 404
    hot = await client.post(OVERVIEW, json=body())
    assert hot.status == 401 and hot.headers["X-Request-ID"]


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_cors_preflights_are_observed(make_client: Any) -> None:
    """A preflight (a route CORS adds) echoes the id; one from an origin not listed is
    refused as problem+json, as every error is."""
    client = await make_client(CORS_ORIGINS=ORIGIN)
    ask = {"Access-Control-Request-Method": "POST", "X-Request-ID": "pre"}
    pre = await client.options(OVERVIEW, headers={"Origin": ORIGIN, **ask})
    assert pre.status == 200 and pre.headers["X-Request-ID"] == "pre"
    assert pre.headers["Access-Control-Allow-Origin"] == ORIGIN
    evil = await client.options(OVERVIEW, headers={"Origin": "https://evil.example", **ask})
    assert evil.status == 403 and evil.content_type == "application/problem+json"
    assert evil.headers["X-Request-ID"] == "pre"


async def test_a_client_gone_before_the_answer_is_counted_as_499() -> None:
    """A handler cancelled (the client hung up; the server stopping) is counted as 499 and
    the cancellation goes on."""

    async def hangs(request: Any) -> Any:
        raise asyncio.CancelledError

    handler = observed(hangs, "/test/gone", Settings.from_env({}))
    before = served("/test/gone", CLIENT_GONE)
    with pytest.raises(asyncio.CancelledError):
        await handler(make_mocked_request("GET", "/test/gone"))
    assert served("/test/gone", CLIENT_GONE) - before == 1


def test_access_lines_are_stamped_to_the_millisecond() -> None:
    """The stamps, spelled once a millisecond, are the time given: UTC for JSON lines, local
    time as logging spells it for text lines, across a second's end."""
    clock = logs._Access()
    for now in (1700000000.0, 1700000000.0004, 1700000000.25, 1700000000.9996, 1700000001.002):
        utc, local = datetime.fromtimestamp(now, UTC), datetime.fromtimestamp(now)
        assert clock.stamp(now) == utc.isoformat(timespec="milliseconds")
        assert (
            clock.local_stamp(now) == f"{local:%Y-%m-%d %H:%M:%S},{local.microsecond // 1000:03d}"
        )
