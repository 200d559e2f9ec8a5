"""Shared fixtures: a real Redis server, a real Redis Cluster and a real PostgreSQL, the
Voiceflow simulator, and the service under test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import redis.cluster
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.config.settings import Settings
from service.store.base import Store
from service.store.connect import open_store
from service.store.fallback import FallbackStore
from service.store.files import FileStore
from service.store.keys import Keys
from service.store.memory import MemoryStore
from service.store.postgres import PostgresStore
from service.store.redis import RedisStore
from simulator.app import SIM_STATE, SimulatorConfig, SimulatorState, create_simulator_app
from tests.postgres_server import PostgresServer
from tests.redis_cluster import RedisCluster
from tests.redis_server import RedisServer

SIM_KEY = "VF.WS.test-workspace-key-0123456789"
DONE = "vfac:test:done"  # the notification channel of the stores tests build by hand
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server (TLS on), started once (about 1 s) for every test that asks."""
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """The session's PostgreSQL, its store's table emptied, as DATABASE_URL names it (over TLS,
    as a Supabase connection string asks)."""
    postgres_server.flush()
    return f"{postgres_server.url}?sslmode=require"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """3 masters and 3 replicas, started once (about 2 s) for every test that asks."""
    cluster = RedisCluster().start()
    yield cluster
    cluster.close()


@pytest.fixture
def own_cluster() -> Iterator[RedisCluster]:
    """A Redis Cluster of the test's own, to fail over and kill nodes of."""
    cluster = RedisCluster().start()
    yield cluster
    cluster.close()


@pytest.fixture
def cluster_url(redis_cluster: RedisCluster) -> str:
    """The session's cluster, flushed (each master), as REDIS_URL names it."""
    redis_cluster.flush()
    return redis_cluster.url


def store_env(kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings of the store `kind` names, emptied: REDIS_URL and REDIS_MODE, DATABASE_URL,
    or a new CACHE_DIR; none for "memory"."""
    if kind == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("database_url")}
    if kind == "file":
        return {"CACHE_DIR": str(request.getfixturevalue("tmp_path") / "cache")}
    if kind == "cluster":
        return {"REDIS_URL": request.getfixturevalue("cluster_url"), "REDIS_MODE": "cluster"}
    if kind == "redis":
        return {"REDIS_URL": request.getfixturevalue("redis_url")}
    return {}


def admin_client(env: Mapping[str, str]) -> redis.Redis | redis.cluster.RedisCluster:
    """A plain client of the Redis `env` names (REDIS_URL, REDIS_MODE), for a test to look
    inside it; the caller closes it."""
    if env.get("REDIS_MODE") == "cluster":
        return redis.cluster.RedisCluster.from_url(env["REDIS_URL"].split(",")[0])
    return redis.Redis.from_url(env["REDIS_URL"])


def flush(env: Mapping[str, str]) -> None:
    """Empty the shared store `env` names: FLUSHALL on a Redis (each master of a cluster),
    the store's table on a PostgreSQL."""
    if "DATABASE_URL" in env:
        PostgresServer.flush_url(env["DATABASE_URL"])
        return
    client = admin_client(env)
    try:
        client.flushall()
    finally:
        client.close()


@pytest.fixture(params=["redis", "cluster"])
def redis_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Run a test once over one Redis and once over a Redis Cluster: REDIS_URL (flushed) and
    REDIS_MODE for the service's settings."""
    return store_env(request.param, request)


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


STORES = ["redis", "memory", "cluster", "postgres", "file"]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Run a test over a real Redis, the in-process store, a Redis Cluster, a real PostgreSQL
    and the file store."""
    kind: str = request.param
    return kind


@asynccontextmanager
async def redis_commands(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A RedisStore on a real Redis, or the Redis Cluster store as the service opens it (each
    flushed, with no fallback around it)."""
    if kind == "cluster":
        async with open_store(Settings.from_env(store_env(kind, request)), Keys("test")) as opened:
            assert isinstance(opened, FallbackStore)
            yield opened.primary
        return
    redis_store = RedisStore(aioredis.Redis.from_url(store_env(kind, request)["REDIS_URL"]), DONE)
    await redis_store.start()
    yield redis_store
    await redis_store.close()


@pytest.fixture
async def store(store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The store under test: a real Redis, the in-process stand-in, or a Redis Cluster."""
    if store_kind == "memory":
        yield MemoryStore()
        return
    if store_kind in ("postgres", "file"):
        env = store_env(store_kind, request)
        opened: PostgresStore | FileStore = (
            PostgresStore(env["DATABASE_URL"], DONE)
            if store_kind == "postgres"
            else FileStore(env["CACHE_DIR"])
        )
        await opened.start()
        yield opened
        await opened.close()
        return
    async with redis_commands(store_kind, request) as commands:
        yield commands


@pytest.fixture(params=["redis", "cluster"])
async def redis_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A test over one Redis, then over a Redis Cluster (no fallback around either)."""
    async with redis_commands(request.param, request) as opened:
        yield opened


Factory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def make_client(
    sim: Sim, aiohttp_client: Any, store_kind: str, request: pytest.FixtureRequest
) -> Factory:
    """Build the service against the simulator, over the store under test (flushed)."""
    env = store_env(store_kind, request)

    async def build(**extra: str) -> TestClient[web.Request, web.Application]:
        client: TestClient[web.Request, web.Application] = await aiohttp_client(
            create_app(make_settings(sim, **{**env, **extra}))
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
