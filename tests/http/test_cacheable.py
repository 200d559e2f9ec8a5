"""`GET /api/analytics/<kind>`: the POST's answers and problems from the same cache entry, with
headers a shared cache (a CDN, a browser, Next.js's fetch cache) may act on."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from service.analytics.answers import CacheStatus, make_answer
from service.http.cacheable import shared_headers
from tests.conftest import PROJECT, Sim, body

PATHS = ["/api/analytics/overview", "/api/analytics/compare"]
OTHER = "7a912f08e83f76001b218691"
ALICE, OPS = "alice-token-0123456789", "ops-token-0123456789"
SHARED = re.compile(
    r"^(public|private), max-age=(\d+), stale-while-revalidate=(\d+), stale-if-error=(\d+)$"
)
BROWSER = {  # what Chromium sends on a conditional fetch()
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Accept-Language": "en-US,en;q=0.9",
    "Sec-Fetch-Mode": "cors",
}


def params(project: str = PROJECT, **extra: str) -> dict[str, str]:
    return {k: str(v) for k, v in body(project, **extra).items()}


@pytest.mark.parametrize("store_kind", ["redis"])
@pytest.mark.parametrize("path", PATHS)
async def test_get_answers_from_the_posts_cache_entry(
    make_client: Any, sim: Sim, path: str
) -> None:
    """The same question asked by GET after a POST is a HIT of the same stored answer: the
    same body and ETag, and no upstream request."""
    client = await make_client()
    posted = await client.post(path, json=body(tz="Europe/Helsinki"))
    assert posted.headers["X-Cache"] == "MISS"
    asked = sim.requests()
    got = await client.get(path, params=params(tz="europe/helsinki"))  # the canonical zone
    assert got.status == 200 and got.content_type == "application/json"
    assert got.headers["X-Cache"] == "HIT"
    assert got.headers["ETag"] == posted.headers["ETag"]
    assert await got.read() == await posted.read()
    assert sim.requests() == asked


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_headers_are_a_shared_caches_without_tokens(client: Any) -> None:
    """No API token: public, max-age the whole fresh lifetime (Age counts what has gone), the
    stale window as stale-while-revalidate and stale-if-error, Vary on Accept-Encoding."""
    resp = await client.get(PATHS[0], params=params())
    assert resp.status == 200
    match = SHARED.fullmatch(resp.headers["Cache-Control"])
    assert match is not None, resp.headers["Cache-Control"]
    assert match.groups() == ("public", "300", "86400", "86400")  # the defaults'
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert int(resp.headers["Age"]) <= 1
    assert re.fullmatch(r'W/"[0-9a-f]+"', resp.headers["ETag"])


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_headers_are_private_and_vary_on_the_token_with_tokens(make_client: Any) -> None:
    """With API tokens: private, and Vary names Authorization (and Origin with CORS)."""
    client = await make_client(API_TOKEN=OPS, CORS_ORIGINS="https://dash.example.com")
    headers = {"Authorization": f"Bearer {OPS}", "Origin": "https://dash.example.com"}
    resp = await client.get(PATHS[0], params=params(), headers=headers)
    assert resp.status == 200
    assert resp.headers["Cache-Control"].startswith("private, max-age=300, ")
    assert resp.headers["Vary"] == "Authorization, Origin, Accept-Encoding"
    assert resp.headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
    assert (await client.get(PATHS[0], params=params())).status == 401


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("path", PATHS)
async def test_a_browsers_conditional_get_is_a_304_without_a_body(client: Any, path: str) -> None:
    """If-None-Match with the ETag (weak or strong, among others): 304, no body, and the
    cache headers a cache refreshes its copy with."""
    first = await client.get(path, params=params(), headers=BROWSER)
    etag = first.headers["ETag"]
    for sent in (etag, etag.removeprefix("W/"), f'"other", {etag}'):
        again = await client.get(path, params=params(), headers={**BROWSER, "If-None-Match": sent})
        assert again.status == 304
        assert await again.read() == b""
        assert "Content-Encoding" not in again.headers
        assert again.headers["ETag"] == etag
        assert SHARED.fullmatch(again.headers["Cache-Control"])
        assert again.headers["Vary"] == "Accept-Encoding" and "Age" in again.headers
    changed = await client.get(path, params=params(), headers={"If-None-Match": '"other"'})
    assert changed.status == 200


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_stale_answer_is_older_than_its_max_age(make_client: Any) -> None:
    """Served STALE, its Age is past max-age: a cache knows it is stale too, and may serve it
    on within stale-while-revalidate, as the service does."""
    client = await make_client(CACHE_TTL_SECONDS="1")
    assert (await client.get(PATHS[0], params=params())).status == 200
    await asyncio.sleep(2.1)
    stale = await client.get(PATHS[0], params=params())
    assert stale.headers["X-Cache"] == "STALE"
    assert (await stale.json())["meta"]["stale"] is True
    max_age = int(SHARED.fullmatch(stale.headers["Cache-Control"])[2])  # type: ignore[index]
    assert int(stale.headers["Age"]) > max_age == 1


BAD_PARAMS: list[tuple[str, dict[str, str], str]] = [
    ("missing project_id", {"start": "2025-01-01", "end": "2025-01-02"}, "project_id"),
    ("missing end", {"project_id": PROJECT, "start": "2025-01-02"}, "end"),
    ("unknown parameter", params(colour="red"), "colour"),
    ("format on overview", params(format="csv"), "format"),
    ("start not a date", params(start="yesterday"), "start"),
    ("end before start", params(start="2025-02-01", end="2025-01-31"), "end"),
    ("half-hour zone", params(tz="Asia/Kolkata"), "tz"),
    ("empty environment", params(environment_id=""), "environment_id"),
]


@pytest.mark.parametrize(("case", "query", "field"), BAD_PARAMS, ids=[c[0] for c in BAD_PARAMS])
@pytest.mark.parametrize("store_kind", ["memory"])
async def test_bad_parameters_are_the_posts_400(
    client: Any, sim: Sim, case: str, query: dict[str, str], field: str
) -> None:
    """Each invalid query is the 400 problem the same body gets, before any upstream request."""
    for path in PATHS:
        resp = await client.get(path, params=query)
        assert resp.status == 400, case
        assert resp.content_type == "application/problem+json"
        got = await resp.json()
        posted = await (await client.post(path, json=query)).json()
        assert got["field"] == posted["field"] == field
        assert got["detail"] == posted["detail"]
    assert sim.requests() == 0


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_a_parameter_given_twice_is_a_400_naming_it(client: Any, sim: Sim) -> None:
    """`start` twice is ambiguous: refused, not read as the first or the last."""
    query = f"project_id={PROJECT}&start=2025-01-01&start=2025-01-02&end=2025-01-03"
    resp = await client.get(f"{PATHS[0]}?{query}")
    assert resp.status == 400
    assert (await resp.json())["field"] == "start"
    assert sim.requests() == 0


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("path", PATHS)
async def test_token_scopes_apply_to_gets(make_client: Any, path: str) -> None:
    """A token scoped to one project gets 403 naming project_id for another, even cached."""
    client = await make_client(API_TOKENS=f"alice={ALICE}:{PROJECT}; ops={OPS}:*")
    warm = await client.get(path, params=params(OTHER), headers={"Authorization": f"Bearer {OPS}"})
    assert warm.status == 200
    refused = await client.get(
        path, params=params(OTHER), headers={"Authorization": f"Bearer {ALICE}"}
    )
    assert refused.status == 403 and "X-Cache" not in refused.headers
    assert (await refused.json())["field"] == "project_id"
    mine = await client.get(path, params=params(), headers={"Authorization": f"Bearer {ALICE}"})
    assert mine.status == 200


def test_freshness_is_the_answers_own() -> None:
    """max-age is the answer's soft TTL and the stale directives its hard TTL, whatever the
    time now; Age is the time since it was fetched."""
    answer = make_answer({"x": 1}, "demo", 1000.0, 120, 3600)
    for now in (1000.0, 1090.5, 1500.0):
        headers = shared_headers(answer, CacheStatus.HIT, private=False, now=now)
        assert headers["Cache-Control"] == (
            "public, max-age=120, stale-while-revalidate=3600, stale-if-error=3600"
        )
        assert headers["Age"] == str(int(now - 1000.0))
    private = shared_headers(answer, CacheStatus.STALE, private=True, now=1000.0)
    assert private["Cache-Control"].startswith("private, ")
    assert private["Vary"] == "Authorization, Accept-Encoding"
