"""The simulator's garbage answers: only when asked, one named way each, validated control."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pytest_aiohttp import AiohttpClient

from tests.simulator.helpers import API, WS_KEY, make_client, post, query


async def raw(client: Any, payload: Any) -> tuple[int, bytes]:
    headers = {"content-type": "application/json", "authorization": WS_KEY}
    async with client.post(API, data=orjson.dumps(payload), headers=headers) as resp:
        return resp.status, await resp.read()


@pytest.mark.parametrize(
    ("kind", "name", "check"),
    [
        ("missing_items", "interactions", lambda r: "items" not in r),
        ("missing_items", "top_intents", lambda r: "intents" not in r),
        ("missing_field", "interactions", lambda r: any("period" not in i for i in r["items"])),
        ("missing_field", "top_intents", lambda r: any("count" not in i for i in r["intents"])),
        (
            "mistyped_field",
            "interactions",
            lambda r: any(isinstance(i["count"], str) for i in r["items"]),
        ),
        ("oversized_page", "interactions", lambda r: len(r["items"]) == 7),
        ("oversized_page", "top_intents", lambda r: len(r["intents"]) == 7),
    ],
)
async def test_each_kind_breaks_one_rule_once(
    aiohttp_client: AiohttpClient, kind: str, name: str, check: Any
) -> None:
    """A queued kind spoils the next matching answer (a 200, logged with its kind); the next
    is as the contract says again."""
    client, state = await make_client(aiohttp_client)
    _, good, _ = await post(client, query(name, limit=5))
    state.garbage_next(1, kind, name)
    status, bad, _ = await post(client, query(name, limit=5))
    assert status == 200 and check(bad["result"])
    assert (await post(client, query(name, limit=5)))[1] == good
    assert [e.get("garbage") for e in state.stats()["log"]] == [None, kind, None]


async def test_malformed_json_and_endless_cursor(aiohttp_client: AiohttpClient) -> None:
    """malformed_json is a 200 that is not JSON; endless_cursor pages on past the end,
    starting over, and only for list metrics (one aimed at any metric skips top_intents)."""
    client, state = await make_client(aiohttp_client)
    state.garbage_next(1, "malformed_json")
    status, body = await raw(client, query("top_intents"))
    assert status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)

    _, first, _ = await post(client, query(limit=500))
    rows = first["result"]["items"]
    assert "cursor" not in first["result"], "one page holds the whole day"
    state.garbage_next(2, "endless_cursor")
    assert (await post(client, query("top_intents")))[0] == 200  # not its kind: untouched
    _, page1, _ = await post(client, query(limit=500))
    assert page1["result"]["items"] == rows and "cursor" in page1["result"]
    _, page2, _ = await post(client, query(limit=500, cursor=page1["result"]["cursor"]))
    assert page2["result"]["items"] and page2["result"]["items"][0] in rows
    _, page3, _ = await post(client, query(limit=500, cursor=page2["result"]["cursor"]))
    assert page3["result"] == {"items": []}, "once used up, the cursor leads to the end"


async def test_garbage_control_plane(aiohttp_client: AiohttpClient) -> None:
    """/_sim/garbage_next queues garbage (400 on a bad body); /_sim/clear_faults drops every
    queued fault and keeps the counters."""
    client, state = await make_client(aiohttp_client)
    for bad in (
        {"n": 1},
        {"n": 1, "kind": "nonsense"},
        {"n": -1, "kind": "missing_items"},
        {"n": 1, "kind": "missing_items", "name": "nope"},
        {"n": 1, "kind": "endless_cursor", "name": "top_intents"},
        {"n": 1, "kind": "missing_items", "x": 1},
    ):
        async with client.post("/_sim/garbage_next", json=bad) as resp:
            assert resp.status == 400, bad
    async with client.post(
        "/_sim/garbage_next", json={"n": 3, "kind": "missing_items", "name": "interactions"}
    ) as resp:
        assert resp.status == 200
    state.fail_next(2)
    state.hang_next(2)
    assert (await post(client, query("unique_users")))[0] == 503
    async with client.post("/_sim/clear_faults") as resp:
        assert resp.status == 200
    _, answer, _ = await post(client, query(limit=5))
    assert "items" in answer["result"]
    assert state.stats()["requests"] == 2
