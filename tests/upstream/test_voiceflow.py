"""The Voiceflow client: the documented protocol, its errors, retries and guards."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from service.config.settings import Secret
from service.errors import (
    UpstreamAuthError,
    UpstreamBadAnswer,
    UpstreamBadRequest,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.upstream.voiceflow import VoiceflowClient
from service.upstream.wire import iso_z, parse_retry_after
from simulator.data import rows_between, top_intents
from tests.conftest import PROJECT, SIM_KEY, Sim

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 7, 23, 59, 59, 999000, tzinfo=UTC)
NOW = datetime.now(UTC)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_client(
    session: aiohttp.ClientSession, url: str, key: str = SIM_KEY, **kw: Any
) -> VoiceflowClient:
    options = {"timeout": 5.0, "deadline": 10.0, "max_retries": 3, "max_pages": 200, **kw}
    return VoiceflowClient(session, url, Secret(key), **options)


def test_timestamps_are_iso_with_milliseconds_and_z() -> None:
    """Times go out as YYYY-MM-DDTHH:MM:SS.sssZ, converted to UTC."""
    assert iso_z(END) == "2025-01-07T23:59:59.999Z"
    assert iso_z(datetime(2025, 1, 1, 2, tzinfo=UTC)) == "2025-01-01T02:00:00.000Z"


def test_retry_after_forms() -> None:
    """Retry-After is read as delta seconds or an HTTP date; garbage is ignored."""
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


async def test_all_rows_over_pages(sim: Sim, session: aiohttp.ClientSession) -> None:
    """Every row of the window comes back once, over ceil(n/500) requests with limit 500."""
    client = make_client(session, sim.url)
    for name in (
        "interactions",
        "credit_usage",
        "unique_users",
        "function_usage",
        "api_calls",
        "kb_documents",
        "integrations",
    ):
        rows = await client.rows(PROJECT, name, START, END)
        expected = rows_between(PROJECT, name, START, END, NOW)
        key = json.dumps
        assert sorted(map(key, rows)) == sorted(map(key, expected)), name
    log = sim.state.stats()["log"]
    assert all(e["startTime"] == "2025-01-01T00:00:00.000Z" for e in log)
    assert any(e["cursor"] is not None for e in log), "expected at least one multi-page metric"


async def test_top_intents(sim: Sim, session: aiohttp.ClientSession) -> None:
    """top_intents is one request and answers the documented shape."""
    intents = await make_client(session, sim.url).top_intents(PROJECT, START, END)
    assert intents == top_intents(PROJECT, START, END, NOW, 500)
    assert sim.requests("top_intents") == 1


@pytest.mark.parametrize(
    "key", ["VF.WS.wrong", f"Bearer {SIM_KEY}", "VF.DM.0123456789abcdef01234567.secret"]
)
async def test_401_is_a_configuration_error_without_the_key(
    sim: Sim, session: aiohttp.ClientSession, key: str
) -> None:
    """A wrong key, a Bearer prefix or a key of another project → UpstreamAuthError, no key."""
    with pytest.raises(UpstreamAuthError) as err:
        await make_client(session, sim.url, key=key).rows(PROJECT, "interactions", START, END)
    assert "VOICEFLOW_API_KEY" in err.value.detail
    assert key not in err.value.detail and "secret" not in err.value.detail
    assert sim.state.stats()["requests"] == 1, "401 must not be retried"


async def test_project_key_reads_its_own_project(sim: Sim, session: aiohttp.ClientSession) -> None:
    """A Dialog Manager key for the project works; the raw key goes in `authorization`."""
    key = f"VF.DM.{PROJECT}.secret"
    sim.state.config.api_keys = (*sim.state.config.api_keys, key)
    rows = await make_client(session, sim.url, key=key).rows(PROJECT, "unique_users", START, END)
    assert rows


async def test_5xx_is_retried(sim: Sim, session: aiohttp.ClientSession) -> None:
    """Two 503s then success: the answer arrives after three attempts."""
    sim.state.fail_next(2, 503)
    rows = await make_client(session, sim.url).rows(PROJECT, "unique_users", START, END)
    assert rows and sim.state.stats()["requests"] == 3


async def test_5xx_retries_are_bounded(sim: Sim, session: aiohttp.ClientSession) -> None:
    """Persistent 5xx: max_retries + 1 attempts, then UpstreamUnavailable."""
    sim.state.fail_next(10, 502)
    with pytest.raises(UpstreamUnavailable):
        await make_client(session, sim.url, max_retries=2).rows(PROJECT, "unique_users", START, END)
    assert sim.state.stats()["requests"] == 3


async def test_timeout_is_retried_then_typed(sim: Sim, session: aiohttp.ClientSession) -> None:
    """A hung request times out and is retried; if every attempt hangs: UpstreamTimeout."""
    sim.state.config.hang_s = 2.0
    sim.state.hang_next(1)
    client = make_client(session, sim.url, timeout=0.3, max_retries=1)
    assert await client.rows(PROJECT, "unique_users", START, END)
    sim.state.hang_next(5)
    with pytest.raises(UpstreamTimeout):
        await client.rows(PROJECT, "unique_users", START, END)


async def test_429_waits_retry_after(sim: Sim, session: aiohttp.ClientSession) -> None:
    """A 429 is waited out for Retry-After seconds, then the query goes on."""
    sim.state.config.rate_per_second = 1.0
    sim.state.config.burst = 1
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        sim.state.reset()  # as if the window passed

    client = make_client(session, sim.url, sleep=fake_sleep)
    await client.rows(PROJECT, "unique_users", START, END)
    await client.rows(PROJECT, "kb_documents", START, END)
    assert slept == [1.0]


async def test_429_beyond_deadline_is_raised(sim: Sim, session: aiohttp.ClientSession) -> None:
    """A Retry-After past the deadline is not waited: UpstreamRateLimited carries it."""
    sim.state.fail_next(1, 429)
    with pytest.raises(UpstreamRateLimited):
        await make_client(session, sim.url, deadline=0.5).rows(PROJECT, "unique_users", START, END)


async def test_400_is_not_retried(sim: Sim, session: aiohttp.ClientSession) -> None:
    """A 400 is the query's fault: raised at once with Voiceflow's message."""
    with pytest.raises(UpstreamBadRequest) as err:
        await make_client(session, sim.url).rows("", "unique_users", START, END)
    assert "projectID" in err.value.detail
    assert sim.state.stats()["requests"] == 1


# --- an independent server: the documented API, written differently -------------------------


def independent_app(
    rows: list[dict[str, Any]], *, end_with: str, page: Callable[[int], int] = lambda n: n
) -> web.Application:
    """Cursor = a random token per page; ends either with no cursor or with empty items."""
    cursors: dict[int, int] = {}

    async def usage(request: web.Request) -> web.Response:
        assert request.headers["authorization"] == "VF.WS.other"
        payload = await request.json()
        assert set(payload) == {"data"} and set(payload["data"]) == {"name", "filter"}
        filt = payload["data"]["filter"]
        assert filt["limit"] == 500 and set(filt) <= {
            "projectID",
            "startTime",
            "endTime",
            "limit",
            "cursor",
        }
        if payload["data"]["name"] == "top_intents":
            return web.json_response({"result": {"intents": [{"name": "refund", "count": 3}]}})
        offset = cursors.get(filt.get("cursor", -1), 0)
        chunk = rows[offset : offset + page(filt["limit"])]
        result: dict[str, Any] = {"items": chunk}
        more = offset + len(chunk) < len(rows)
        if more or (end_with == "empty" and chunk):
            token = random.randrange(10**8, 10**9)
            cursors[token] = offset + len(chunk)
            result["cursor"] = token
        elif end_with == "null":
            result["cursor"] = None
        return web.json_response({"result": result})

    app = web.Application()
    app.router.add_post("/base/v2/query/usage", usage)
    return app


def row(i: int) -> dict[str, Any]:
    """An interactions item as documented, of its own hour and type: no two are one row."""
    period = f"2025-01-01T{i % 24:02d}:00:00.000Z"
    return {
        "period": period,
        "projectID": PROJECT,
        "environmentID": "env",
        "type": f"kind-{i}",
        "count": i,
    }


@pytest.mark.parametrize("end_with", ["absent", "null", "empty"])
async def test_independent_server(
    aiohttp_server: Any, session: aiohttp.ClientSession, end_with: str
) -> None:
    """Against another implementation of the documented API, every end-of-pages form works."""
    rows = [row(i) for i in range(1234)]
    server = await aiohttp_server(independent_app(rows, end_with=end_with))
    client = make_client(session, str(server.make_url("/base")), key="VF.WS.other")
    assert await client.rows(PROJECT, "interactions", START, END) == rows
    assert await client.top_intents(PROJECT, START, END) == [{"name": "refund", "count": 3}]


async def test_stuck_cursor_and_page_cap(
    aiohttp_server: Any, session: aiohttp.ClientSession
) -> None:
    """A cursor that repeats stops paging with a 502 error; so does reaching the page cap."""

    async def stuck(request: web.Request) -> web.Response:
        return web.json_response({"result": {"items": [row(1)], "cursor": 42}})

    app = web.Application()
    app.router.add_post("/v2/query/usage", stuck)
    server = await aiohttp_server(app)
    client = make_client(session, str(server.make_url("")))
    with pytest.raises(UpstreamBadAnswer, match="did not advance"):
        await client.rows(PROJECT, "interactions", START, END)

    rows = [row(i) for i in range(50)]
    server = await aiohttp_server(independent_app(rows, end_with="absent", page=lambda n: 1))
    client = make_client(session, str(server.make_url("/base")), key="VF.WS.other", max_pages=10)
    with pytest.raises(UpstreamBadAnswer, match="within 10 pages"):
        await client.rows(PROJECT, "interactions", START, END)


async def test_malformed_answers_are_errors(
    aiohttp_server: Any, session: aiohttp.ClientSession
) -> None:
    """A 200 that is not the documented shape is a bad answer, not a crash nor a retry."""
    answers = iter([b"not json", b'{"result": {"items": 5}}', b'{"nope": 1}'] * 5)

    async def bad(request: web.Request) -> web.Response:
        return web.Response(body=next(answers), content_type="application/json")

    app = web.Application()
    app.router.add_post("/v2/query/usage", bad)
    server = await aiohttp_server(app)
    client = make_client(session, str(server.make_url("")), max_retries=3)
    for _ in range(3):
        with pytest.raises(UpstreamBadAnswer):
            await client.rows(PROJECT, "interactions", START, END)
    assert next(answers) == b"not json", "each was asked once: a bad answer is not retried"


async def test_key_never_logged(
    sim: Sim, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Retries and failures log without the API key."""
    caplog.set_level(logging.DEBUG)
    sim.state.fail_next(3, 503)
    await make_client(session, sim.url).rows(PROJECT, "unique_users", START, END)
    assert SIM_KEY not in caplog.text
