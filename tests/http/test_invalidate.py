"""`POST /api/admin/invalidate`: what it drops, what is fetched again, who may call it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.analytics.rows import LIST_METRICS
from service.app import create_app
from service.http.appkeys import CORE
from tests.analytics.test_budget_edge import YEAR
from tests.conftest import PROJECT, Sim, body, make_settings
from tests.http.test_http import check
from warmer.jobs import decide, popular, run

ADMIN = "admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
PATH = "/api/admin/invalidate"


def windows(sim: Sim, since: int) -> Counter[tuple[str, str, str]]:
    """First pages asked of the simulator after the `since`-th logged request, per window."""
    log = sim.state.stats()["log"][since:]
    return Counter(
        (e["name"], e["startTime"], e["endTime"])
        for e in log
        if e["status"] == 200 and e["cursor"] is None
    )


def logged(sim: Sim) -> int:
    return len(sim.state.stats()["log"])


async def ask(client: Any, path: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    resp = await client.post(f"/api/analytics/{path}", json=body(**fields))
    assert resp.status == 200, await resp.text()
    return resp.headers["X-Cache"], await resp.json()


async def test_an_invalidated_range_is_fetched_again_and_only_it(
    make_client: Any, sim: Sim
) -> None:
    """Dropping Jan 10-12 drops the answers over them (a compare by its previous period
    too); asking again refetches exactly those days and the windows over them, nothing else."""
    client = await make_client(ADMIN_TOKEN=ADMIN)
    jan, feb = (
        {"start": "2025-01-01", "end": "2025-01-31"},
        {"start": "2025-02-01", "end": "2025-02-28"},
    )
    mid = {"start": "2025-01-13", "end": "2025-01-15"}  # its previous period: Jan 10-12
    for path, dates in (("overview", jan), ("overview", feb), ("compare", mid)):
        assert (await ask(client, path, **dates))[0] == "MISS"

    resp = await client.post(
        PATH, json={"project_id": PROJECT, "start": "2025-01-10", "end": "2025-01-12"}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    check(report, "Invalidated")
    assert report["dropped"] == {
        "days": 3 * len(LIST_METRICS),
        "checkpoints": 0,
        "intents_windows": 2,  # Jan 1-31 and Jan 10-12; Jan 13-15 starts after the range
        "answers": 3,
        "exports": 0,
    }
    assert sorted((a["kind"], a["query"].split("|")[1]) for a in report["answers"]) == [
        ("compare", "2025-01-13"),
        ("overview", "2025-01-01"),
        ("overview", "2025-01-10"),
    ]
    assert report["answers_truncated"] is False

    before = logged(sim)
    assert (await ask(client, "overview", **feb))[0] == "HIT"
    assert (await ask(client, "overview", **mid))[0] == "HIT"
    assert logged(sim) == before
    assert (await ask(client, "overview", **jan))[0] == "MISS"
    days = ("2025-01-10T00:00:00.000Z", "2025-01-12T23:59:59.999Z")
    assert windows(sim, before) == Counter(
        {(m, *days): 1 for m in LIST_METRICS}
        | {("top_intents", "2025-01-01T00:00:00.000Z", "2025-01-31T23:59:59.999Z"): 1}
    )
    before = logged(sim)
    assert (await ask(client, "compare", **mid))[0] == "MISS"
    assert windows(sim, before) == Counter({("top_intents", *days): 1})


async def test_invalidation_reaches_a_second_process(
    sim: Sim, redis_env: dict[str, str], aiohttp_client: Any
) -> None:
    """Two processes on one Redis (or a cluster), hot copies kept 30 s: after an invalidation
    made through one, the other stops serving its hot copy within a second (pub/sub), and the
    popular dropped answer is the warmer's to refresh again."""
    settings = make_settings(sim, **redis_env, ADMIN_TOKEN=ADMIN, CACHE_LOCAL_SECONDS="30")
    first, second = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    feb = {"start": "2025-02-01", "end": "2025-02-28"}  # one answer per process: none
    for client, dates in ((first, {}), (second, feb)):  # recomputes the other's
        await ask(client, "overview", **dates)
        assert (await ask(client, "overview", **dates))[0] == "HIT"
    resp = await first.post(PATH, json={"project_id": PROJECT}, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["dropped"]["answers"] == 2
    assert (await ask(first, "overview"))[0] == "MISS"  # its own hot copy went at once
    deadline = time.monotonic() + 1.0
    while (await ask(second, "overview", **feb))[0] == "HIT":
        assert time.monotonic() < deadline, "the second process still serves its hot copy"
        await asyncio.sleep(0.02)

    core = first.app[CORE]
    await first.post(PATH, json={"project_id": PROJECT}, headers=AUTH)
    await core.popularity.flush()
    candidates = await popular(core, 5)
    assert {c.query.start.isoformat() for c in candidates} >= {"2025-01-01"}
    for candidate in candidates:
        decision = await decide(core, candidate, horizon=time.time() + 60, now=time.time())
        assert (decision.action, decision.stale_in) == ("refresh", None)
    report = await run(
        core, "refresh", candidates, until_next=60, stop_reason=lambda: None, acted_by="test"
    )
    assert report.refreshed == len(candidates)
    for candidate in candidates:
        assert await core.analytics.peek("overview", candidate.query) is not None


async def test_checkpoints_holding_the_range_are_dropped(
    sim: Sim, redis_env: dict[str, str], aiohttp_client: Any
) -> None:
    """A fetch stopped mid-way leaves checkpointed pages; invalidating their days drops the
    chunks whole (pages, cursor, day pointers), so no page fetched before is resumed."""
    sim.state.config.latency_s = 0.02
    settings = make_settings(sim, **redis_env, ADMIN_TOKEN=ADMIN, UPSTREAM_MAX_WAIT_SECONDS="0.3")
    stopped = TestClient(TestServer(create_app(settings)))
    await stopped.start_server()
    try:
        resp = await stopped.post("/api/analytics/overview", json=body(**YEAR))
        assert resp.status == 503
        await asyncio.sleep(1.0)  # pages are being fetched and checkpointed
    finally:
        await stopped.close()  # stops the fetch mid-way, its checkpoints left behind
    client = await aiohttp_client(create_app(settings))
    resp = await client.post(PATH, json={"project_id": PROJECT, **YEAR}, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["dropped"]["checkpoints"] >= 1
    core = client.app[CORE]
    days = [date(2024, 1, 1) + timedelta(days=n) for n in range(366)]
    for metric in LIST_METRICS:
        keys = [core.keys.checkpoint_of(PROJECT, metric, d) for d in days]
        assert await core.store.mget(keys) == [None] * len(days)


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_only_the_admin_token_may_invalidate(make_client: Any, sim: Sim) -> None:
    """With ADMIN_TOKEN set: no token, a wrong one or API_TOKEN is a 401 naming ADMIN_TOKEN,
    and nothing is dropped; the admin token is obeyed."""
    client = await make_client(ADMIN_TOKEN=ADMIN, API_TOKEN="api-token-0123456789")
    api = {"Authorization": "Bearer api-token-0123456789"}
    await client.post("/api/analytics/overview", json=body(), headers=api)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN}, api):
        resp = await client.post(PATH, json={"project_id": PROJECT}, headers=headers)
        assert resp.status == 401 and resp.content_type == "application/problem+json"
        problem = await resp.json()
        check(problem, "Problem")
        assert "ADMIN_TOKEN" in problem["detail"] and ADMIN not in await resp.text()
    resp = await client.post("/api/analytics/overview", json=body(), headers=api)
    assert resp.headers["X-Cache"] == "HIT"
    resp = await client.post(PATH, json={"project_id": PROJECT}, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["dropped"]["answers"] == 1


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("env", [{}, {"API_TOKEN": "api-token-0123456789"}])
async def test_without_admin_token_the_call_is_refused(
    make_client: Any, env: dict[str, str]
) -> None:
    """ADMIN_TOKEN unset: 403 saying to set it, whatever token is sent (even API_TOKEN)."""
    client = await make_client(**env)
    for headers in ({}, {"Authorization": "Bearer api-token-0123456789"}):
        resp = await client.post(PATH, json={"project_id": PROJECT}, headers=headers)
        assert resp.status == 403 and resp.content_type == "application/problem+json"
        problem = await resp.json()
        check(problem, "Problem")
        assert "set" in problem["detail"] and "ADMIN_TOKEN" in problem["detail"]


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start": "2025-13-01"}, "start"),
        ({"start": "2025/01/01"}, "start"),
        ({"end": "2025-02-30"}, "end"),
        ({"start": 20250101}, "start"),
        ({"end": "1999-12-31"}, "end"),
        ({"start": "2025-01-12", "end": "2025-01-10"}, "end"),
        ({"project_id": "no spaces"}, "project_id"),
        ({"project_id": None}, "project_id"),
        ({"tz": "UTC"}, "tz"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    make_client: Any, sim: Sim, fields: dict[str, Any], field: str
) -> None:
    """Bad dates, a bad project id, an unknown field: 400 problem+json naming it."""
    client = await make_client(ADMIN_TOKEN=ADMIN)
    resp = await client.post(PATH, json={"project_id": PROJECT, **fields}, headers=AUTH)
    assert resp.status == 400 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    check(problem, "Problem")
    assert problem["field"] == field
    for raw, status in ((b"[1]", 400), (b"{", 400)):
        resp = await client.post(
            PATH, data=raw, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert resp.status == status and (await resp.json())["field"] == "body"
    resp = await client.post(PATH, data=b"x", headers={**AUTH, "Content-Type": "text/plain"})
    assert resp.status == 415
    check({"project_id": PROJECT, "start": "2025-01-01", "end": None}, "InvalidateRequest")


async def test_an_invalidation_during_a_long_fill_is_fetched_again_for_its_answer(
    make_client: Any, sim: Sim
) -> None:
    """40 days to today come in two windows a metric, the recent week first. Days a fill
    has read are kept in hand while it fetches the others, unless an invalidation comes
    meanwhile: the week dropped while the older window is fetched is read again, found
    missing and fetched again, and the answer is built from rows fetched after the call."""
    sim.state.config.latency_s = 0.5  # credit_usage's older window: about 9 pages, 4.5 s
    client = await make_client(ADMIN_TOKEN=ADMIN, UPSTREAM_MAX_WAIT_SECONDS="60")
    today = datetime.now(UTC).date()
    oldest, week = today - timedelta(days=39), today - timedelta(days=7)
    fill = asyncio.create_task(
        client.post(
            "/api/analytics/overview", json=body(start=str(oldest), end=str(today), tz="UTC")
        )
    )

    def older_window_paging() -> bool:  # the week is stored, the older window half-way
        return any(
            e["name"] == "credit_usage"
            and e["cursor"] is not None
            and e["startTime"][:10] == str(oldest)
            for e in sim.state.stats()["log"]
        )

    deadline = time.monotonic() + 30
    while not older_window_paging():
        assert time.monotonic() < deadline and not fill.done()
        await asyncio.sleep(0.02)
    resp = await client.post(
        PATH, json={"project_id": PROJECT, "start": str(week), "end": str(today)}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    answer = await fill
    assert answer.status == 200
    first_pages = windows(sim, 0)
    recent = ("credit_usage", f"{week}T00:00:00.000Z", f"{today}T23:59:59.999Z")
    assert first_pages[recent] == 2, first_pages
