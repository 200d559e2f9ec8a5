"""Bad input gets a 4xx problem+json that names the field and the rule — never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PROJECT, body

BAD_BODIES: list[tuple[str, Any, str]] = [
    ("not an object", [1, 2], "body"),
    ("missing project_id", {"start": "2025-01-01", "end": "2025-01-02"}, "project_id"),
    ("missing start", {"project_id": PROJECT, "end": "2025-01-02"}, "start"),
    ("missing end", {"project_id": PROJECT, "start": "2025-01-02"}, "end"),
    ("extra field", body(colour="red"), "colour"),
    ("format on overview", body(format="csv"), "format"),
    ("project id wrong type", body(project=123), "project_id"),
    ("empty project id", body(project=""), "project_id"),
    ("project id with colon", body(project="abc:def"), "project_id"),
    ("project id with space", body(project="abc def"), "project_id"),
    ("project id too long", body(project="a" * 65), "project_id"),
    ("start not a string", body(start=20250101), "start"),
    ("start not a date", body(start="yesterday"), "start"),
    ("start not a calendar date", body(start="2025-02-30"), "start"),
    ("end with time", body(end="2025-01-31T00:00:00"), "end"),
    ("end before start", body(start="2025-02-01", end="2025-01-31"), "end"),
    ("range too long", body(start="2024-01-01", end="2025-01-02"), "end"),
    ("unknown zone", body(tz="Mars/Olympus"), "tz"),
    ("zone not a string", body(tz=3), "tz"),
    ("half-hour zone", body(tz="Asia/Kolkata"), "tz"),
    ("quarter-hour zone", body(tz="Asia/Kathmandu"), "tz"),
    ("environment id wrong type", body(environment_id=5), "environment_id"),
]


@pytest.mark.parametrize(("case", "payload", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("path", ["/api/analytics/overview", "/api/analytics/compare"])
async def test_bad_body_is_a_400_naming_the_field(
    client: Any, sim: Any, path: str, case: str, payload: Any, field: str
) -> None:
    """Each invalid body is rejected before any upstream request, with field and rule."""
    resp = await client.post(path, json=payload)
    assert resp.status == 400, case
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["status"] == 400
    assert problem["field"] == field
    assert problem["title"] and problem["detail"] and problem["type"].startswith("https://")
    assert sim.requests() == 0


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_rules_are_stated(client: Any) -> None:
    """The detail says the rule, e.g. the whole-hour requirement and the range limit."""
    resp = await client.post("/api/analytics/overview", json=body(tz="Asia/Kolkata"))
    assert "whole hours" in (await resp.json())["detail"]
    resp = await client.post("/api/analytics/overview", json=body(start="2020-01-01"))
    assert "366" in (await resp.json())["detail"]


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_malformed_json(client: Any) -> None:
    """A body that is not JSON is a 400 on field `body`."""
    resp = await client.post(
        "/api/analytics/overview",
        data=b'{"project_id": ',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert (await resp.json())["field"] == "body"


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_wrong_content_type(client: Any) -> None:
    """A form post is a 415 naming Content-Type."""
    resp = await client.post("/api/analytics/overview", data={"project_id": PROJECT})
    assert resp.status == 415
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["field"] == "Content-Type"


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_body_over_limit(client: Any) -> None:
    """A body past MAX_BODY_BYTES is a 413 problem."""
    resp = await client.post(
        "/api/analytics/overview",
        data=b"{" + b" " * 20000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert resp.content_type == "application/problem+json"


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_chunked_body_over_limit(client: Any) -> None:
    """A chunked body (no Content-Length) past the limit is a 413 too."""

    async def chunks() -> Any:
        for _ in range(40):
            yield b" " * 1000

    resp = await client.post(
        "/api/analytics/overview", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_unknown_route_and_method(client: Any) -> None:
    """404 and 405 are problem+json as well; 405 keeps its Allow header."""
    resp = await client.get("/api/nope")
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"
    resp = await client.delete("/api/analytics/overview")
    assert resp.status == 405
    assert resp.content_type == "application/problem+json"
    assert {"GET", "POST"} <= set(resp.headers["Allow"].split(","))
