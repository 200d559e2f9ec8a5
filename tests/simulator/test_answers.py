"""The simulator's answers: item shapes, real-looking values, bounds, pagination, top intents."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.cursor import CURSOR_BASE
from simulator.data import LIST_METRICS, hour_rows, rows_between, top_intents
from tests.simulator.helpers import (
    DAY,
    NOW,
    OCTOBER,
    OTHER_PROJECT,
    PROJECT,
    Client,
    at,
    identity,
    post,
    query,
)

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
