"""The contract's rules for a 200 (service/upstream/answers.py), one each: a Voiceflow
answer that breaks one is refused as UpstreamBadAnswer naming it, asked once, not retried;
and the one repeat of rows that is not garbage, rows pushed on under a cursor. (The
simulator's garbage kinds, end to end through the service: tests/faults.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from service.config.settings import Secret
from service.errors import UpstreamBadAnswer
from service.upstream.answers import ENTITY_FIELDS
from service.upstream.voiceflow import VoiceflowClient
from simulator.app import SimulatorConfig, create_simulator_app
from simulator.data import rows_between
from tests.conftest import PROJECT, SIM_KEY

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 7, 23, 59, 59, 999000, tzinfo=UTC)


def item(**changes: Any) -> dict[str, Any]:
    base = {
        "period": "2025-01-02T09:00:00.000Z",
        "projectID": PROJECT,
        "environmentID": "env",
        "functionID": "f1",
        "name": "lookup_order",
        "count": 3,
        "successCount": 2,
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not ...}


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ({"result": []}, "function_usage page 1 with a result that is not an object"),
        ({"result": {"items": [1]}}, "item 1 of 1 being a number, not an object"),
        ({"result": {"items": {}}}, "with items that are an object, not a list"),
        ({"result": {"items": [item()], "cursor": "7"}}, "a cursor that is a string"),
        ({"result": {"items": [item(period="yesterday")]}}, "period that is not an ISO-8601"),
        ({"result": {"items": [item(period=3)]}}, "having period that is a number"),
        ({"result": {"items": [item(period="2025-02-01T00:00:00.000Z")]}}, "outside the asked"),
        ({"result": {"items": [item(projectID="other")]}}, "projectID that is not the project"),
        ({"result": {"items": [item(count=-1)]}}, "having count -1, not an integer >= 0"),
        ({"result": {"items": [item(count=1.5)]}}, "count that is a fractional number"),
        ({"result": {"items": [item(count=True)]}}, "count that is a boolean"),
        ({"result": {"items": [item(successCount=...)]}}, "item 1 of 1 missing successCount"),
        ({"result": {"items": [item(functionID=None)]}}, "functionID that is null, not a string"),
        ({"result": {"items": [item(), item(count=9)]}}, "item 2 of 2 repeating a row"),
    ],
)
async def test_list_answer_rules(aiohttp_server: Any, answer: dict[str, Any], named: str) -> None:
    """Each way a list page can break the contract is refused, named, and asked only once."""
    detail, asked = await refused(
        aiohttp_server, [answer], lambda c: c.rows(PROJECT, "function_usage", START, END)
    )
    assert named in detail and asked == 1


def hour(n: int) -> dict[str, Any]:
    return item(period=f"2025-01-02T{n:02d}:00:00.000Z")


@pytest.mark.parametrize(
    ("second", "named"),
    [
        ([hour(3), hour(2), hour(4)], "item 2 of 3 repeating a row"),  # not where it was
        ([hour(1), hour(4)], "item 1 of 2 repeating a row"),  # not the page's last rows
        ([hour(2), hour(3)], "item 1 of 2 repeating a row"),  # nothing new after them
    ],
)
async def test_a_page_repeating_rows_otherwise_than_pushed_on_is_refused(
    aiohttp_server: Any, second: list[dict[str, Any]], named: str
) -> None:
    """Only a page beginning with the page before's last rows, in order and with a new row
    after them, is a list that grew under its cursor; any other repeat is refused."""
    pages = [
        {"result": {"items": [hour(1), hour(2), hour(3)], "cursor": 1}},
        {"result": {"items": second}},
    ]
    detail, asked = await refused(
        aiohttp_server, pages, lambda c: c.rows(PROJECT, "function_usage", START, END)
    )
    assert named in detail and asked == 2


async def test_rows_pushed_on_by_rows_appearing_before_the_cursor_are_read_once(
    aiohttp_server: Any,
) -> None:
    """Two rows appeared before the cursor's place between pages: the second page begins
    with the first page's last two rows. They are dropped, and every row is read once."""
    pages = [
        {"result": {"items": [hour(1), hour(2), hour(3)], "cursor": 1}},
        {"result": {"items": [hour(2), hour(3), hour(4)], "cursor": 2}},
        {"result": {"items": [hour(4), hour(5)]}},
    ]
    async with scripted(aiohttp_server, pages) as (client, asked):
        rows = await client.rows(PROJECT, "function_usage", START, END)
    assert [r["period"][11:13] for r in rows] == ["01", "02", "03", "04", "05"]
    assert asked() == 3


async def test_rows_appearing_in_the_open_hour_between_pages(
    aiohttp_server: Any,
) -> None:
    """The simulator's clock moves 8 minutes a request from the start of an hour, so rows of
    the open hour appear between pages, some before the cursor's place (rows are in hash
    order, not time order): each pushes the rest on by one, and the next page begins with
    the page before's last rows. The window still reads without a 502, each row once, and no
    row there at the first page is missed."""
    first = datetime(2025, 3, 4, 12, 0, 30, tzinfo=UTC)
    asked: list[datetime] = []

    def clock() -> datetime:
        asked.append(first + timedelta(minutes=8 * len(asked)))
        return asked[-1]

    app = create_simulator_app(SimulatorConfig(api_keys=(SIM_KEY,), clock=clock))
    server = await aiohttp_server(app)
    start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 4, 23, 59, tzinfo=UTC)
    async with aiohttp.ClientSession() as session:
        rows = await voiceflow(session, server).rows(PROJECT, "credit_usage", start, end)

    def identity(row: dict[str, Any]) -> tuple[Any, ...]:
        entity = ("period", "environmentID", *ENTITY_FIELDS["credit_usage"])
        return tuple(row[field] for field in entity)

    assert len(asked) > 3, "one page or two: nothing could appear between pages"
    at_first = {identity(r) for r in rows_between(PROJECT, "credit_usage", start, end, first)}
    at_last = {identity(r) for r in rows_between(PROJECT, "credit_usage", start, end, asked[-1])}
    assert len(at_last) > len(at_first), "no row appeared meanwhile: the test did not test"
    seen = [identity(r) for r in rows]
    assert len(seen) == len(set(seen))
    assert at_first <= set(seen) <= at_last


@pytest.mark.parametrize(
    ("intents", "named"),
    [
        ([{"name": "a", "count": 1}, {"name": "b", "count": 2}], "intent 2 of 2 out of order"),
        ([{"name": "a", "count": 2}, {"name": "a", "count": 1}], "repeating an intent"),
        ([{"name": 5, "count": 1}], "having a name that is a number"),
        ([{"count": 1}], "intent 1 of 1 missing name"),
        ("x", "intents that are a string, not a list"),
    ],
)
async def test_top_intents_rules(aiohttp_server: Any, intents: Any, named: str) -> None:
    """top_intents must be a list of named counts, descending, each intent once."""
    detail, asked = await refused(
        aiohttp_server,
        [{"result": {"intents": intents}}],
        lambda c: c.top_intents(PROJECT, START, END, limit=10),
    )
    assert named in detail and asked == 1


async def refused(
    aiohttp_server: Any, answers: list[Any], call: Callable[[VoiceflowClient], Awaitable[Any]]
) -> tuple[str, int]:
    """The detail of the UpstreamBadAnswer a server answering `answers` in turn causes, and
    the number of requests it took."""
    async with scripted(aiohttp_server, answers) as (client, asked):
        with pytest.raises(UpstreamBadAnswer) as err:
            await call(client)
    assert SIM_KEY not in err.value.detail
    return err.value.detail, asked()


@contextlib.asynccontextmanager
async def scripted(
    aiohttp_server: Any, answers: list[Any]
) -> AsyncIterator[tuple[VoiceflowClient, Callable[[], int]]]:
    """A client of a server answering `answers` in turn (the last one again after them), and
    how many requests the server has had."""
    asked = 0

    async def usage(request: web.Request) -> web.Response:
        nonlocal asked
        asked += 1
        return web.json_response(answers[min(asked, len(answers)) - 1])

    app = web.Application()
    app.router.add_post("/v2/query/usage", usage)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        yield voiceflow(session, server), lambda: asked


def voiceflow(session: aiohttp.ClientSession, server: Any) -> VoiceflowClient:
    """The client, of the test server `server`."""
    return VoiceflowClient(
        session,
        str(server.make_url("")),
        Secret(SIM_KEY),
        timeout=5.0,
        deadline=10.0,
        max_retries=3,
        max_pages=20,
    )
