"""The simulator's contract on requests: bad bodies are 400s, bad keys 401s, wrong routes JSON."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.cursor import CURSOR_BASE
from simulator.errors import UNAUTHORIZED_MESSAGE
from tests.simulator.helpers import (
    API,
    DAY,
    DM_KEY,
    OTHER_PROJECT,
    PROJECT,
    WS_KEY,
    Client,
    post,
    query,
)

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


# --- routing ----------------------------------------------------------------------------------


async def test_unknown_path_and_wrong_method_answer_json(client: Client) -> None:
    """An unknown path is a JSON 404 and a GET on the API path a JSON 405."""
    async with client.post("/v2/query/nope", json={}) as resp:
        assert resp.status == 404
        assert (await resp.json())["statusCode"] == 404
    async with client.get(API) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"
        assert (await resp.json())["statusCode"] == 405
