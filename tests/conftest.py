"""Shared fixtures: a real Redis server, the Voiceflow simulator, and the service under test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.config.settings import Settings
from service.store.base import Store
from service.store.memory import MemoryStore
from service.store.redis import RedisStore
from simulator.app import SIM_STATE, SimulatorConfig, SimulatorState, create_simulator_app
from tests.redis_server import RedisServer

SIM_KEY = "VF.WS.test-workspace-key-0123456789"
PROJECT = "62912f08e83f76001b218690"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own, to kill, pause and start again on the same port."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A flushed database on the session's Redis server."""
    redis_server.flush()
    return redis_server.url


@dataclass
class Sim:
    server: TestServer
    state: SimulatorState
    url: str

    def requests(self, name: str | None = None, status: int = 200) -> int:
        """Requests the simulator answered with `status` (all names, or one)."""
        log = self.state.stats()["log"]
        return sum(1 for e in log if e["status"] == status and (name is None or e["name"] == name))


@pytest.fixture
async def sim(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Sim:
    app = create_simulator_app(SimulatorConfig(api_keys=(SIM_KEY,)))
    server = await aiohttp_server(app)
    return Sim(server, app[SIM_STATE], str(server.make_url("")).rstrip("/"))


def make_settings(sim: Sim, redis_url: str | None = None, **env: str) -> Settings:
    # A budget no test meets unless it sets its own: most tests count requests, not rates.
    environ = {
        "VOICEFLOW_API_KEY": SIM_KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "UPSTREAM_RATE_PER_SECOND": "10000",
        "UPSTREAM_BURST": "10000",
        "WARMER_EMBEDDED": "false",  # tests of the warmer turn it on
        **env,
    }
    if redis_url is not None:
        environ["REDIS_URL"] = redis_url
    return Settings.from_env(environ)


@pytest.fixture(params=["redis", "memory"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Run a test once over a real Redis and once over the in-process store."""
    kind: str = request.param
    return kind


@pytest.fixture
async def store(store_kind: str, redis_url: str) -> AsyncIterator[Store]:
    """The store under test: a real Redis (flushed), or the in-process stand-in."""
    if store_kind == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(aioredis.Redis.from_url(redis_url), "vfac:test:done")
    await redis_store.start()
    yield redis_store
    await redis_store.close()


Factory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def make_client(
    sim: Sim, aiohttp_client: Any, redis_server: RedisServer, store_kind: str
) -> Factory:
    """Build the service against the simulator, over the store under test."""
    redis_server.flush()

    async def build(**env: str) -> TestClient[web.Request, web.Application]:
        url = redis_server.url if store_kind == "redis" else None
        client: TestClient[web.Request, web.Application] = await aiohttp_client(
            create_app(make_settings(sim, url, **env))
        )
        return client

    return build


@pytest.fixture
async def client(make_client: Factory) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    yield await make_client()


def body(
    project: str = PROJECT, start: str = "2025-01-01", end: str = "2025-01-31", **extra: Any
) -> dict[str, Any]:
    return {"project_id": project, "start": start, "end": end, **extra}
