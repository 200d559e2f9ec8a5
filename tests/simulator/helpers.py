"""What the simulator's test modules share: the keys, a fixed clock, and how to ask the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from simulator import SIM_STATE, SimulatorConfig, SimulatorState, create_simulator_app

Client = TestClient[web.Request, web.Application]

API = "/v2/query/usage"
PROJECT = "62912f08e83f76001b218690"
OTHER_PROJECT = "5f0c1e2d3b4a596877665544"
WS_KEY = "VF.WS.test-workspace-key"
DM_KEY = f"VF.DM.{PROJECT}.project-secret"
NOW = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)  # a Thursday afternoon
DAY = ("2025-11-03T00:00:00.000Z", "2025-11-03T23:59:59.999Z")  # a Monday, fully past
OCTOBER = ("2025-10-01T00:00:00.000Z", "2025-10-31T23:59:59.999Z")


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


def identity(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, v) for k, v in item.items() if k not in ("count", "successCount")))
