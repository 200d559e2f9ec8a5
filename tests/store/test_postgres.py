"""What only the PostgreSQL store has: its schema and migrations, TLS as Supabase asks for it,
expiry swept on a schedule, and a database that goes away under a running service."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from service.app import create_app
from service.store.fallback import FallbackStore
from service.store.memory import MemoryStore
from service.store.migrate import MIGRATIONS, SCHEMA
from service.store.postgres import PostgresStore
from tests.conftest import DONE, Sim, body, make_settings
from tests.postgres_server import PostgresServer
from tests.redis_server import free_port


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of the test's own, to kill, pause and start again on the same port."""
    server = PostgresServer().start()
    yield server
    server.close()


async def test_schema_is_made_once_in_its_own_schema(own_postgres: PostgresServer) -> None:
    """Three processes starting at once: the migrations run once, and every table is in
    vfac_cache (never the application's `public`)."""
    stores = [PostgresStore(own_postgres.url, DONE) for _ in range(3)]
    await asyncio.gather(*(store.start() for store in stores))
    try:
        versions = own_postgres.psql(f"SELECT version FROM {SCHEMA}.migrations").stdout.split()
        assert [int(v) for v in versions] == [version for version, _, _ in MIGRATIONS]
        tables = own_postgres.psql(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).stdout.split()
        assert tables == [f"{SCHEMA}.entries", f"{SCHEMA}.migrations"]
    finally:
        for store in stores:
            await store.close()
    again = PostgresStore(own_postgres.url, DONE)
    await again.start()  # up to date: nothing applied, nothing lost
    await again.close()
    assert own_postgres.psql(f"SELECT count(*) FROM {SCHEMA}.migrations").stdout.strip() == "1"


async def test_a_supabase_style_url_connects_over_tls(database_url: str) -> None:
    """`?sslmode=require`, as Supabase's connection strings carry it, is honoured as it is."""
    assert database_url.endswith("?sslmode=require")
    store = PostgresStore(database_url, DONE)
    await store.start()
    try:
        async with store.pool.acquire() as conn:
            ssl = await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert ssl is True
    finally:
        await store.close()


async def test_expired_rows_are_hidden_at_once_and_swept_later(
    database_url: str, postgres_server: PostgresServer
) -> None:
    """Reads never see an expired row, nor delete it (the hit path writes nothing); the
    scheduled sweep does."""
    store = PostgresStore(database_url, DONE)
    await store.start()
    try:
        await store.set_many([("short", b"x", 0.05), ("long", b"y", 60)])
        await store.acquire(["{t}lease"], "token", 0.05)
        await asyncio.sleep(0.1)
        assert await store.mget(["short", "long"]) == [None, b"y"]
        assert await store.get("short") is None
        count = f"SELECT count(*) FROM {SCHEMA}.entries"
        assert postgres_server.psql(count).stdout.strip() == "3"
        assert await store.sweep() == 2
        assert postgres_server.psql(count).stdout.strip() == "1"
    finally:
        await store.close()


async def test_connections_the_database_ends_while_idle_fail_no_command(
    own_postgres: PostgresServer,
) -> None:
    """Backends ended under idle pooled connections, as a restart or an idle timeout ends
    them. asyncpg can hand out such a connection before it has seen it close, and its next
    command fails in the client (InternalClientError, which no fallback expects). The store
    drops it and runs the command on another, round after round."""
    store = PostgresStore(own_postgres.url, DONE, pool_size=4)
    await store.start()
    admin = await asyncpg.connect(own_postgres.url)
    failures: list[BaseException] = []
    try:
        for _ in range(40):
            await asyncio.gather(*(store.get(f"k{i}") for i in range(4)))
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'vf-analytics-cache'"
            )
            found = await asyncio.gather(
                *(store.get(f"k{i}") for i in range(4)), return_exceptions=True
            )
            failures += [error for error in found if isinstance(error, BaseException)]
        await store.set("k0", b"v", 60)
        assert await store.get("k0") == b"v"
    finally:
        await admin.close()
        await store.close()
    # A command already on its way when the backend ended fails as the database going away
    # does (one of DOWN: the fallback serves from memory); never anything else.
    assert not [error for error in failures if isinstance(error, asyncpg.InternalClientError)]
    assert all(isinstance(error, PostgresStore.DOWN) for error in failures)


async def test_service_rides_out_a_database_outage(
    sim: Sim, aiohttp_client: Any, own_postgres: PostgresServer
) -> None:
    """The database killed under a running service: answers go on promptly from the
    in-process store, readiness says degraded, and the service goes back once it is up."""
    settings = make_settings(sim, DATABASE_URL=own_postgres.url)
    client = await aiohttp_client(create_app(settings))
    assert (await client.post("/api/analytics/overview", json=body())).headers["X-Cache"] == "MISS"
    assert (await client.post("/api/analytics/overview", json=body())).headers["X-Cache"] == "HIT"
    # Commits do not wait for the disk (synchronous_commit=off): what a crash can lose is the
    # last 3 x wal_writer_delay (600 ms) of writes. Past that, they survive it.
    await asyncio.sleep(1.0)

    own_postgres.send_signal(signal.SIGKILL)
    started = time.monotonic()
    first = await client.post("/api/analytics/overview", json=body())
    assert first.status == 200
    assert time.monotonic() - started < 3
    again = await client.post("/api/analytics/overview", json=body())
    assert (again.status, again.headers["X-Cache"]) == (200, "HIT")
    ready = await (await client.get("/health/ready")).json()
    assert ready["status"] == "degraded"
    assert "PostgreSQL unreachable" in ready["checks"]["store"]["detail"]

    own_postgres.start()
    for _ in range(100):
        await asyncio.sleep(0.1)
        if (await (await client.get("/health/ready")).json())["status"] == "ok":
            break
    assert (await (await client.get("/health")).json())["degraded"] is False
    # Its data survived the kill (PostgreSQL keeps them on disk): a hit, not a refetch.
    back = await client.post("/api/analytics/overview", json=body())
    assert (back.status, back.headers["X-Cache"]) == (200, "HIT")


async def test_a_paused_database_does_not_hang_requests(
    sim: Sim, aiohttp_client: Any, own_postgres: PostgresServer
) -> None:
    """A database that stops answering (SIGSTOP, its connections open): answers still come
    within the timeouts, from the in-process store."""
    client = await aiohttp_client(create_app(make_settings(sim, DATABASE_URL=own_postgres.url)))
    assert (await client.post("/api/analytics/overview", json=body())).status == 200
    own_postgres.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        resp = await client.post("/api/analytics/compare", json=body())
        assert resp.status == 200
        assert time.monotonic() - started < 5
    finally:
        own_postgres.send_signal(signal.SIGCONT)


async def test_a_database_down_at_start_up_degrades_then_recovers(
    own_postgres: PostgresServer,
) -> None:
    """Started while the database is down: degraded from the start (no crash), and the schema
    is made once it is reachable."""
    own_postgres.stop()
    store = FallbackStore(PostgresStore(own_postgres.url, DONE), MemoryStore())
    await store.start()
    try:
        assert store.degraded
        await store.set("k", b"v", 10)  # in memory meanwhile
        own_postgres.start()
        for _ in range(100):
            await asyncio.sleep(0.1)
            if not store.degraded:
                break
        assert not store.degraded
        await store.set("k", b"w", 10)
        assert await store.primary.get("k") == b"w"
    finally:
        await store.close()


async def test_the_database_password_is_never_shown(
    sim: Sim, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that cannot be reached, named with a password: neither the log, nor
    /health, nor an answer shows it."""
    url = f"postgresql://vfac:hunter2password@127.0.0.1:{free_port()}/postgres?sslmode=require"
    client = await aiohttp_client(create_app(make_settings(sim, DATABASE_URL=url)))
    answers = [
        await client.post("/api/analytics/overview", json=body()),
        await client.get("/health/ready"),
        await client.get("/health"),
    ]
    assert answers[0].status == 200  # served from the in-process store
    for resp in answers:
        assert "hunter2password" not in await resp.text()
    assert "postgres unreachable" in caplog.text
    assert "hunter2password" not in caplog.text
