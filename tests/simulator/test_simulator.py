"""The Voiceflow analytics simulator: contract, data, pagination, budget, faults, control."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from simulator import SIM_STATE, SimulatorConfig, SimulatorState, create_simulator_app
from simulator.__main__ import build_config
from simulator.cursor import CURSOR_BASE
from simulator.data import LIST_METRICS, hour_rows, rows_between, top_intents
from simulator.errors import RATE_LIMITED_MESSAGE, UNAUTHORIZED_MESSAGE

Client = TestClient[web.Request, web.Application]

API = "/v2/query/usage"
PROJECT = "62912f08e83f76001b218690"
OTHER_PROJECT = "5f0c1e2d3b4a596877665544"
WS_KEY = "VF.WS.test-workspace-key"
DM_KEY = f"VF.DM.{PROJECT}.project-secret"
NOW = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)  # a Thursday afternoon
DAY = ("2025-11-03T00:00:00.000Z", "2025-11-03T23:59:59.999Z")  # a Monday, fully past
OCTOBER = ("2025-10-01T00:00:00.000Z", "2025-10-31T23:59:59.999Z")
ITEM_FIELDS = {
    "interactions": {"type"},
    "unique_users": set(),
    "credit_usage": {"diagramID", "nodeID", "model", "type"},
    "function_usage": {"functionID", "name", "successCount"},
    "api_calls": {"apiToolID", "name", "successCount"},
    "kb_documents": {"documentID"},
    "integrations": {"integrationToolName", "successCount"},
}
BASE_FIELDS = {"period", "projectID", "environmentID", "count"}


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def query(name: str = "interactions", window: tuple[str, str] = DAY, **filt: Any) -> Any:
    base = {"projectID": PROJECT, "startTime": window[0], "endTime": window[1]}
    return {"data": {"name": name, "filter": {**base, **filt}}}


async def make_client(
    aiohttp_client: AiohttpClient, **config: Any
) -> tuple[Client, SimulatorState]:
    config.setdefault("clock", fixed(NOW))
    app = create_simulator_app(SimulatorConfig(api_keys=(WS_KEY, DM_KEY), **config))
    return await aiohttp_client(app), app[SIM_STATE]


async def post(client: Client, payload: Any, key: str | None = WS_KEY) -> tuple[int, Any, Any]:
    """Status, decoded JSON and headers of one API request; bytes payloads are sent raw."""
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = key
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    async with client.post(API, data=data, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


async def walk(client: Client, payload: Any) -> list[dict[str, Any]]:
    """Every page of a list query, following cursors until one is missing."""
    pages: list[dict[str, Any]] = []
    while True:
        status, body, _ = await post(client, payload)
        assert status == 200, body
        pages.append(body["result"])
        if "cursor" not in body["result"]:
            return pages
        payload["data"]["filter"]["cursor"] = body["result"]["cursor"]


def identity(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, v) for k, v in item.items() if k not in ("count", "successCount")))


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return (await make_client(aiohttp_client))[0]


# --- validation -------------------------------------------------------------------------------

_GOOD = query()["data"]


def _filter(**changes: Any) -> Any:
    filt = {**_GOOD["filter"], **changes}
    return {
        "data": {"name": "interactions", "filter": {k: v for k, v in filt.items() if v is not ...}}
    }


BAD_BODIES = [
    pytest.param(b"{not json", "body", id="not-json"),
    pytest.param(b"", "body", id="empty-body"),
    pytest.param([], "body", id="array-body"),
    pytest.param({"data": _GOOD, "extra": 1}, "extra", id="top-level-unknown"),
    pytest.param({"data": _GOOD, "cursor": CURSOR_BASE}, "cursor", id="top-level-cursor"),
    pytest.param({}, "data", id="data-missing"),
    pytest.param({"data": []}, "data", id="data-not-object"),
    pytest.param({"data": {**_GOOD, "cursor": CURSOR_BASE}}, "cursor", id="cursor-in-data"),
    pytest.param({"data": {"filter": _GOOD["filter"]}}, "data.name", id="name-missing"),
    pytest.param({"data": {**_GOOD, "name": "sessions"}}, "data.name", id="name-unknown"),
    pytest.param({"data": {"name": "interactions"}}, "data.filter", id="filter-missing"),
    pytest.param(
        {"data": {"name": "interactions", "filter": "x"}}, "data.filter", id="filter-not-object"
    ),
    pytest.param(_filter(projectID=...), "projectID", id="project-missing"),
    pytest.param(_filter(projectID=""), "projectID", id="project-empty"),
    pytest.param(_filter(projectID=[PROJECT]), "projectID", id="project-not-string"),
    pytest.param(_filter(startTime=...), "startTime", id="start-missing"),
    pytest.param(_filter(endTime=...), "endTime", id="end-missing"),
    pytest.param(_filter(startTime="2025-11-03T00:00:00Z"), "startTime", id="start-no-millis"),
    pytest.param(
        _filter(startTime="2025-11-03T00:00:00.000+00:00"), "startTime", id="start-offset"
    ),
    pytest.param(_filter(startTime="2025-11-03"), "startTime", id="start-date-only"),
    pytest.param(_filter(startTime="2025-13-01T00:00:00.000Z"), "startTime", id="month-13"),
    pytest.param(_filter(endTime="2025-02-30T00:00:00.000Z"), "endTime", id="february-30"),
    pytest.param(_filter(startTime=1762128000000), "startTime", id="start-number"),
    pytest.param(_filter(startTime=DAY[1], endTime=DAY[0]), "startTime", id="start-after-end"),
    pytest.param(_filter(limit=0), "limit", id="limit-0"),
    pytest.param(_filter(limit=501), "limit", id="limit-501"),
    pytest.param(_filter(limit="500"), "limit", id="limit-string"),
    pytest.param(_filter(limit=1.5), "limit", id="limit-float"),
    pytest.param(_filter(limit=True), "limit", id="limit-bool"),
    pytest.param(_filter(limit=None), "limit", id="limit-null"),
    pytest.param(_filter(cursor=-1), "cursor", id="cursor-negative"),
    pytest.param(_filter(cursor=str(CURSOR_BASE)), "cursor", id="cursor-string"),
    pytest.param(_filter(cursor=True), "cursor", id="cursor-bool"),
    pytest.param(_filter(cursor=None), "cursor", id="cursor-null"),
    pytest.param(_filter(cursor=12345), "cursor", id="cursor-foreign"),
    pytest.param(_filter(interval="day"), "interval", id="filter-unknown-key"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_BODIES)
async def test_bad_body_is_400_naming_the_field(client: Client, payload: Any, field: str) -> None:
    """Each body the contract forbids answers 400 {statusCode, message} naming what is wrong."""
    status, body, _ = await post(client, payload)
    assert status == 400
    assert body["statusCode"] == 400
    assert field in body["message"]


async def test_limit_defaults_to_100(client: Client) -> None:
    """Without filter.limit a page holds 100 rows."""
    status, body, _ = await post(client, query())
    assert status == 200
    assert len(body["result"]["items"]) == 100
    assert "cursor" in body["result"]


# --- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "project"),
    [
        pytest.param(f"Bearer {WS_KEY}", PROJECT, id="bearer-prefix"),
        pytest.param("VF.WS.not-a-key-we-know", PROJECT, id="wrong-key"),
        pytest.param(None, PROJECT, id="missing-key"),
        pytest.param("", PROJECT, id="empty-key"),
        pytest.param(DM_KEY, OTHER_PROJECT, id="project-key-other-project"),
    ],
)
async def test_unauthorized_is_401(client: Client, key: str | None, project: str) -> None:
    """A bad, prefixed or missing key, or a project key on another project, answers 401."""
    status, body, _ = await post(client, query(projectID=project), key=key)
    assert status == 401
    assert body == {"statusCode": 401, "message": UNAUTHORIZED_MESSAGE}


async def test_auth_is_checked_before_validation(client: Client) -> None:
    """A wrong key with an invalid body answers 401, not 400."""
    status, _, _ = await post(client, {"nonsense": True}, key="VF.WS.wrong")
    assert status == 401


async def test_project_and_workspace_keys_succeed(client: Client) -> None:
    """A project key reads its own project; a workspace key reads any project."""
    assert (await post(client, query(), key=DM_KEY))[0] == 200
    assert (await post(client, query(projectID=OTHER_PROJECT), key=WS_KEY))[0] == 200


# --- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LIST_METRICS)
async def test_list_items_have_the_documented_shape(client: Client, name: str) -> None:
    """Every item has period/projectID/environmentID/count plus exactly its metric's fields."""
    status, body, _ = await post(client, query(name, limit=500))
    assert status == 200
    assert set(body) == {"result"}
    items = body["result"]["items"]
    assert items
    for item in items:
        assert set(item) == BASE_FIELDS | ITEM_FIELDS[name]
        assert item["period"].startswith("2025-11-03T")
        assert item["period"].endswith(":00:00.000Z")
        assert item["projectID"] == PROJECT
        assert len(item["environmentID"]) == 24
        int(item["environmentID"], 16)
        assert isinstance(item["count"], int)
        assert item["count"] > 0
        if "successCount" in item:
            assert 0 <= item["successCount"] <= item["count"]
        for field in ("diagramID", "functionID", "apiToolID", "documentID"):
            if field in item:
                assert len(item[field]) == 24
                int(item[field], 16)
    assert len({item["environmentID"] for item in items}) <= 2


async def test_dimension_values_look_real(client: Client) -> None:
    """Interactions and credit usage use the documented types, models and an empty nodeID."""
    _, body, _ = await post(client, query("interactions", limit=500))
    interactions = body["result"]["items"]
    assert {i["type"] for i in interactions} == {"chat", "dialog-management", "canvas-prototype"}
    assert len({i["environmentID"] for i in interactions}) == 2
    _, body, _ = await post(client, query("credit_usage", limit=500))
    credits = body["result"]["items"]
    assert {i["type"] for i in credits} == {"llm-input", "llm-output"}
    assert {i["model"] for i in credits} <= {"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"}
    assert "" in {i["nodeID"] for i in credits}


async def test_bounds_are_inclusive(client: Client) -> None:
    """startTime <= period <= endTime: a bound on an hour start includes that hour."""
    hour = "2025-11-03T14:00:00.000Z"
    _, body, _ = await post(client, query(window=(hour, hour), limit=500))
    items = body["result"]["items"]
    assert items
    assert {i["period"] for i in items} == {hour}
    assert items == hour_rows(PROJECT, "interactions", at(hour), NOW)
    window = ("2025-11-03T13:00:00.000Z", hour)
    _, body, _ = await post(client, query(window=window, limit=500))
    assert {i["period"] for i in body["result"]["items"]} == {window[0], hour}
    inside = ("2025-11-03T14:00:00.001Z", "2025-11-03T14:59:59.999Z")
    _, body, _ = await post(client, query(window=inside))
    assert body == {"result": {"items": []}}


async def test_pagination_walks_every_row_once(client: Client) -> None:
    """A 31-day query pages by 500 through every row exactly once and ends without a cursor."""
    pages = await walk(client, query("credit_usage", OCTOBER, limit=500))
    items = [item for page in pages for item in page["items"]]
    assert len(pages) >= 5
    assert all(len(page["items"]) == 500 for page in pages[:-1])
    assert 0 < len(pages[-1]["items"]) <= 500
    assert "cursor" not in pages[-1]
    assert len({identity(i) for i in items}) == len(items)
    assert items == rows_between(PROJECT, "credit_usage", at(OCTOBER[0]), at(OCTOBER[1]), NOW)
    cursors = [page["cursor"] for page in pages[:-1]]
    assert len(set(cursors)) == len(cursors)
    assert all(isinstance(c, int) and c > CURSOR_BASE for c in cursors)


async def test_cursor_of_another_window_is_400(client: Client) -> None:
    """A cursor replayed with another window or project is refused."""
    _, body, _ = await post(client, query(limit=10))
    cursor = body["result"]["cursor"]
    assert (await post(client, query(limit=10, cursor=cursor)))[0] == 200
    moved = (DAY[0], "2025-11-04T23:59:59.999Z")
    assert (await post(client, query(window=moved, limit=10, cursor=cursor)))[0] == 400
    other = query(limit=10, cursor=cursor, projectID=OTHER_PROJECT)
    assert (await post(client, other))[0] == 400
    assert (await post(client, query("unique_users", limit=10, cursor=cursor)))[0] == 400


async def test_order_is_not_time_order(client: Client) -> None:
    """Rows come in a stable hash order, so clients cannot rely on time order."""
    _, body, _ = await post(client, query("interactions", OCTOBER, limit=500))
    periods = [item["period"] for item in body["result"]["items"]]
    assert periods != sorted(periods)
    assert periods != sorted(periods, reverse=True)
    _, again, _ = await post(client, query("interactions", OCTOBER, limit=500))
    assert again == body


async def test_top_intents_shape_sort_and_limit(client: Client) -> None:
    """top_intents answers {intents: [{name, count}]}, count desc, at most limit, no cursor."""
    status, body, _ = await post(client, query("top_intents", OCTOBER))
    assert status == 200
    intents = body["result"]["intents"]
    assert set(body["result"]) == {"intents"}
    assert 3 < len(intents) <= 100
    assert all(set(i) == {"name", "count"} and i["count"] > 0 for i in intents)
    assert intents == sorted(intents, key=lambda i: (-i["count"], i["name"]))
    assert intents == top_intents(PROJECT, at(OCTOBER[0]), at(OCTOBER[1]), NOW, 100)
    _, top3, _ = await post(client, query("top_intents", OCTOBER, limit=3, cursor=CURSOR_BASE))
    assert top3["result"]["intents"] == intents[:3]


async def test_two_apps_answer_identically(aiohttp_client: AiohttpClient) -> None:
    """Data depends only on project, metric, hour and clock: two apps give the same bytes."""
    first, _ = await make_client(aiohttp_client, seed=1)
    second, _ = await make_client(aiohttp_client, seed=2)
    for name in ("credit_usage", "top_intents"):
        _, one, _ = await post(first, query(name, limit=500))
        _, other, _ = await post(second, query(name, limit=500))
        assert one == other
        assert next(iter(one["result"].values()))


async def test_standalone_process_serves_identical_data() -> None:
    """`python -m simulator` serves the same rows as this process (no salted hash)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "VOICEFLOW_API_KEY": WS_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.post(
                        f"http://127.0.0.1:{port}{API}",
                        json=query("kb_documents", OCTOBER, limit=500),
                        headers={"authorization": WS_KEY},
                    ) as resp:
                        body = await resp.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("the simulator did not start")
    finally:
        proc.terminate()
        await proc.wait()
    expected = rows_between(PROJECT, "kb_documents", at(OCTOBER[0]), at(OCTOBER[1]), NOW)
    assert body["result"]["items"] == expected[:500]


async def test_current_hour_grows_and_future_is_empty(aiohttp_client: AiohttpClient) -> None:
    """The hour containing now shows floor(full * elapsed share); later hours have no rows."""
    hour = datetime(2025, 11, 20, 15, tzinfo=UTC)
    window = ("2025-11-20T15:00:00.000Z", "2025-11-20T15:59:59.999Z")
    seen = []
    for minutes in (10, 50, 60):
        client, _ = await make_client(
            aiohttp_client, clock=fixed(hour + timedelta(minutes=minutes))
        )
        _, body, _ = await post(client, query(window=window, limit=500))
        seen.append({identity(i): i["count"] for i in body["result"]["items"]})
    early, late, full = seen
    assert set(early) <= set(late) <= set(full)
    assert all(early[k] <= late[k] <= full[k] for k in early)
    assert sum(early.values()) < sum(late.values()) < sum(full.values())
    assert early == {k: full[k] * 10 // 60 for k in full if full[k] * 10 // 60}
    client, _ = await make_client(aiohttp_client, clock=fixed(hour + timedelta(minutes=50)))
    later = ("2025-11-20T16:00:00.000Z", "2025-11-30T23:59:59.999Z")
    assert (await post(client, query(window=later)))[1] == {"result": {"items": []}}
    for name in LIST_METRICS:
        assert (
            hour_rows(PROJECT, name, hour + timedelta(hours=1), hour + timedelta(minutes=50)) == []
        )
        assert hour_rows(PROJECT, name, hour, hour) == []


# --- data -------------------------------------------------------------------------------------


def test_rows_per_day_look_like_a_busy_project() -> None:
    """A weekday has ~100-250 rows of interactions and credit usage, fewer of the others."""
    start, end = at(DAY[0]), at(DAY[1])
    per_day = {name: len(rows_between(PROJECT, name, start, end, NOW)) for name in LIST_METRICS}
    assert 90 <= per_day["interactions"] <= 250
    assert 100 <= per_day["credit_usage"] <= 250
    for name in ("unique_users", "function_usage", "api_calls", "kb_documents", "integrations"):
        assert 0 < per_day[name] < per_day["credit_usage"]


def test_rhythm_has_quiet_nights_and_weekends() -> None:
    """Afternoons outweigh nights (UTC) and weekdays outweigh weekends."""
    rows = rows_between(PROJECT, "interactions", at(OCTOBER[0]), at(OCTOBER[1]), NOW)
    by_hour: Counter[int] = Counter()
    by_weekday: Counter[bool] = Counter()
    for row in rows:
        moment = at(row["period"])
        by_hour[moment.hour] += row["count"]
        by_weekday[moment.weekday() >= 5] += row["count"]
    assert by_hour[14] + by_hour[15] > 4 * (by_hour[2] + by_hour[3])
    assert by_weekday[False] / 23 > 1.5 * by_weekday[True] / 8  # October 2025: 23 weekdays


def test_helpers_refuse_naive_or_unaligned_hours() -> None:
    """hour_rows wants an aware datetime on the hour, and list metrics only."""
    with pytest.raises(ValueError, match="naive"):
        hour_rows(PROJECT, "interactions", datetime(2025, 11, 3, 14), NOW)
    with pytest.raises(ValueError, match="start of a UTC hour"):
        hour_rows(PROJECT, "interactions", datetime(2025, 11, 3, 14, 30, tzinfo=UTC), NOW)
    with pytest.raises(ValueError, match="list metric"):
        rows_between(PROJECT, "top_intents", at(DAY[0]), at(DAY[1]), NOW)


def test_ninety_days_are_fast() -> None:
    """rows_between over 90 days of one metric stays well under a second, even cold."""
    started = time.perf_counter()
    rows = rows_between(
        "0123456789abcdef01234567", "credit_usage", NOW - timedelta(days=90), NOW, NOW
    )
    assert rows
    assert time.perf_counter() - started < 1.0


# --- rate budget ------------------------------------------------------------------------------


async def test_budget_answers_429_then_recovers(aiohttp_client: AiohttpClient) -> None:
    """Past the burst a key gets 429 + Retry-After; other keys are unaffected; tokens refill."""
    client, state = await make_client(aiohttp_client, rate_per_second=4.0, burst=2)
    remaining = []
    for _ in range(2):
        status, _, headers = await post(client, query(limit=1))
        assert status == 200
        assert headers["X-RateLimit-Limit"] == "2"
        assert int(headers["X-RateLimit-Reset"]) >= 1
        remaining.append(headers["X-RateLimit-Remaining"])
    assert remaining == ["1", "0"]
    status, body, headers = await post(client, {"invalid": "body"})  # budget precedes validation
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body == {"statusCode": 429, "message": RATE_LIMITED_MESSAGE}
    assert (await post(client, query(limit=1), key=DM_KEY))[0] == 200
    await asyncio.sleep(0.3)
    assert (await post(client, query(limit=1)))[0] == 200
    assert state.stats()["rate_limited"] == 1


async def test_retry_after_is_the_ceiling_of_the_wait(aiohttp_client: AiohttpClient) -> None:
    """Retry-After is the whole seconds to the next token (2 at 0.5/s); no budget, no headers."""
    client, state = await make_client(aiohttp_client, rate_per_second=0.5, burst=1)
    assert (await post(client, query(limit=1)))[0] == 200
    status, _, headers = await post(client, query(limit=1))
    assert (status, headers["Retry-After"]) == (429, "2")
    state.config.rate_per_second = None
    status, _, headers = await post(client, query(limit=1))
    assert status == 200
    assert "X-RateLimit-Limit" not in headers


# --- faults, latency, stats -------------------------------------------------------------------


async def test_fail_next_answers_the_status_before_auth(aiohttp_client: AiohttpClient) -> None:
    """fail_next(n, status) makes the next n requests fail, whatever their key, then recovers."""
    client, state = await make_client(aiohttp_client)
    state.fail_next(2, 502)
    status, body, _ = await post(client, query(), key="VF.WS.wrong")
    assert (status, body["statusCode"]) == (502, 502)
    assert (await post(client, query()))[0] == 502
    assert (await post(client, query()))[0] == 200
    assert state.stats()["answered"] == {502: 2, 200: 1}


async def test_hang_next_delays_then_answers(aiohttp_client: AiohttpClient) -> None:
    """hang_next(1) holds one request hang_s seconds; a shorter client timeout sees a timeout."""
    client, state = await make_client(aiohttp_client, hang_s=0.3)
    state.hang_next(1)
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started < 0.25
    state.hang_next(1)
    with pytest.raises(TimeoutError):
        await client.post(
            API,
            json=query(limit=1),
            headers={"authorization": WS_KEY},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    await asyncio.sleep(0.3)  # let the held handler finish before teardown


async def test_error_rate_is_seeded(aiohttp_client: AiohttpClient) -> None:
    """error_rate draws 500/502/503 from a seeded RNG: same seed, same sequence."""
    sequences = []
    for _ in range(2):
        client, _ = await make_client(aiohttp_client, error_rate=0.5, seed=7)
        sequences.append([(await post(client, query(limit=1)))[0] for _ in range(20)])
    assert sequences[0] == sequences[1]
    assert set(sequences[0]) - {200} <= {500, 502, 503}
    assert 200 in sequences[0] and len(set(sequences[0])) > 1


async def test_timeout_rate_hangs(aiohttp_client: AiohttpClient) -> None:
    """timeout_rate=1 makes every request wait hang_s before its normal answer."""
    client, _ = await make_client(aiohttp_client, timeout_rate=1.0, hang_s=0.2)
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started >= 0.2


async def test_latency_applies_after_auth(aiohttp_client: AiohttpClient) -> None:
    """latency_s delays answered queries; a 401 is answered at once (auth precedes latency)."""
    client, _ = await make_client(aiohttp_client, latency_s=0.2)
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    assert (await post(client, query(limit=1), key="VF.WS.wrong"))[0] == 401
    assert time.monotonic() - started < 0.15


async def test_stats_count_everything_and_reset_zeroes(aiohttp_client: AiohttpClient) -> None:
    """stats() counts requests, statuses, 200s per name and logs each request; reset() zeroes."""
    client, state = await make_client(aiohttp_client)
    _, first, _ = await post(client, query(limit=5))
    await post(client, query(limit=5, cursor=first["result"]["cursor"]))
    await post(client, query("top_intents"))
    await post(client, query(limit=0))
    await post(client, query(), key=None)
    stats = state.stats()
    assert stats["requests"] == 5
    assert stats["answered"] == {200: 3, 400: 1, 401: 1}
    assert stats["by_name"] == {"interactions": 2, "top_intents": 1}
    assert stats["rate_limited"] == 0
    assert [e["status"] for e in stats["log"]] == [200, 200, 200, 400, 401]
    assert stats["log"][1] == {
        "name": "interactions",
        "projectID": PROJECT,
        "startTime": DAY[0],
        "endTime": DAY[1],
        "cursor": first["result"]["cursor"],
        "status": 200,
    }
    state.fail_next(1)
    state.reset()
    assert state.stats() == {
        "requests": 0,
        "answered": {},
        "by_name": {},
        "rate_limited": 0,
        "log": [],
    }
    assert (await post(client, query()))[0] == 200


# --- control plane and routing ----------------------------------------------------------------


async def test_control_plane(aiohttp_client: AiohttpClient) -> None:
    """/_sim/* reads stats, resets, tunes config (400 on bad fields) and queues faults."""
    client, state = await make_client(aiohttp_client)
    await post(client, query(limit=1))
    async with client.get("/_sim/stats") as resp:
        assert (await resp.json())["answered"] == {"200": 1}
    async with client.post(
        "/_sim/config", json={"latency_s": 0, "rate_per_second": 50, "burst": 3, "hang_s": 0.2}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["burst"] == 3
    assert (state.config.rate_per_second, state.config.burst, state.config.hang_s) == (50.0, 3, 0.2)
    for bad in ({"nope": 1}, {"burst": "3"}, {"burst": 0}, {"error_rate": 2}, [1]):
        async with client.post("/_sim/config", json=bad) as resp:
            assert resp.status == 400
            assert (await resp.json())["statusCode"] == 400
    async with client.post("/_sim/fail_next", json={"n": 1, "status": 500}) as resp:
        assert resp.status == 200
    assert (await post(client, query(limit=1)))[0] == 500
    for bad in ({"n": -1}, {"n": 1, "status": 200}, {"n": "1"}, {"n": 1, "x": 2}):
        async with client.post("/_sim/fail_next", json=bad) as resp:
            assert resp.status == 400
    async with client.post("/_sim/hang_next", json={"n": 1}) as resp:
        assert resp.status == 200
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started >= 0.2
    async with client.post("/_sim/reset") as resp:
        assert resp.status == 200
    assert state.stats()["requests"] == 0


async def test_control_plane_can_be_left_out(aiohttp_client: AiohttpClient) -> None:
    """create_simulator_app(control=False) serves only the API."""
    app = create_simulator_app(SimulatorConfig(api_keys=(WS_KEY,)), control=False)
    client = await aiohttp_client(app)
    async with client.get("/_sim/stats") as resp:
        assert resp.status == 404


async def test_unknown_path_and_wrong_method_answer_json(client: Client) -> None:
    """An unknown path is a JSON 404 and a GET on the API path a JSON 405."""
    async with client.post("/v2/query/nope", json={}) as resp:
        assert resp.status == 404
        assert (await resp.json())["statusCode"] == 404
    async with client.get(API) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"
        assert (await resp.json())["statusCode"] == 405


# --- command line -----------------------------------------------------------------------------


def test_cli_needs_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --api-key or VOICEFLOW_API_KEY the CLI exits 2 naming the flag."""
    with pytest.raises(SystemExit) as exited:
        build_config(["--port", "1"], {})
    assert exited.value.code == 2
    assert "--api-key" in capsys.readouterr().err


def test_cli_builds_the_config() -> None:
    """Flags map onto SimulatorConfig (latency in ms); the env key is the fallback."""
    _, config = build_config(
        ["--port", "1", "--latency", "250", "--rate", "5", "--burst", "3", "--error-rate", "0.1"],
        {"VOICEFLOW_API_KEY": WS_KEY},
    )
    assert config.api_keys == (WS_KEY,)
    assert (config.latency_s, config.rate_per_second, config.burst, config.error_rate) == (
        0.25,
        5.0,
        3,
        0.1,
    )
    _, config = build_config(["--port", "1", "--api-key", "a", "--api-key", "b"], {})
    assert config.api_keys == ("a", "b")
