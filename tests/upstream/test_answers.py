"""The contract's rules for a 200 (service/upstream/answers.py), one each: a Voiceflow
answer that breaks one is refused as UpstreamBadAnswer naming it, asked once, not retried.
(The simulator's garbage kinds, end to end through the service: tests/faults.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from service.config.settings import Secret
from service.errors import UpstreamBadAnswer
from service.upstream.voiceflow import VoiceflowClient
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
        aiohttp_server, answer, lambda c: c.rows(PROJECT, "function_usage", START, END)
    )
    assert named in detail and asked == 1


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
        {"result": {"intents": intents}},
        lambda c: c.top_intents(PROJECT, START, END, limit=10),
    )
    assert named in detail and asked == 1


async def refused(
    aiohttp_server: Any, answer: Any, call: Callable[[VoiceflowClient], Awaitable[Any]]
) -> tuple[str, int]:
    """The detail of the UpstreamBadAnswer a server answering `answer` causes, and the
    number of requests it took."""
    asked = 0

    async def usage(request: web.Request) -> web.Response:
        nonlocal asked
        asked += 1
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/v2/query/usage", usage)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        client = VoiceflowClient(
            session,
            str(server.make_url("")),
            Secret(SIM_KEY),
            timeout=5.0,
            deadline=10.0,
            max_retries=3,
            max_pages=10,
        )
        with pytest.raises(UpstreamBadAnswer) as err:
            await call(client)
    assert SIM_KEY not in err.value.detail
    return err.value.detail, asked
