"""Redis stopped and restarted under a running service: no hang, no 500, recovery by itself."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis

from service.app import create_app
from tests.conftest import Sim, body, make_settings
from tests.redis_server import RedisServer


async def test_redis_outage_and_recovery(
    sim: Sim, aiohttp_client: Any, own_redis: RedisServer
) -> None:
    """While Redis is down requests are answered promptly; when it is back, it is used again."""
    client = await aiohttp_client(create_app(make_settings(sim, own_redis.url)))
    assert (await client.post("/api/analytics/overview", json=body())).headers["X-Cache"] == "MISS"
    assert (await client.post("/api/analytics/overview", json=body())).headers["X-Cache"] == "HIT"

    own_redis.stop()
    started = time.monotonic()
    first = await client.post("/api/analytics/overview", json=body())
    assert first.status == 200  # refetched into the in-process store
    assert time.monotonic() - started < 3
    again = await client.post("/api/analytics/overview", json=body())
    assert (again.status, again.headers["X-Cache"]) == (200, "HIT")
    ready = await client.get("/health/ready")
    assert ready.status == 200 and (await ready.json())["status"] == "degraded"
    other = await client.post("/api/analytics/compare", json=body())
    assert other.status == 200

    own_redis.start()
    for _ in range(40):
        await asyncio.sleep(0.1)
        if (await (await client.get("/health/ready")).json())["status"] == "ok":
            break
    assert (await (await client.get("/health")).json())["degraded"] is False
    back = await client.post("/api/analytics/overview", json=body())
    assert (back.status, back.headers["X-Cache"]) == (200, "MISS")  # the new Redis is empty
    hit = await client.post("/api/analytics/overview", json=body())
    assert hit.headers["X-Cache"] == "HIT"


async def test_slow_redis_does_not_hang_requests(
    sim: Sim, aiohttp_client: Any, own_redis: RedisServer
) -> None:
    """A Redis that stops answering (paused, not closed): requests answer within the timeouts."""
    import redis

    client = await aiohttp_client(create_app(make_settings(sim, own_redis.url)))
    await client.post("/api/analytics/overview", json=body())
    admin = redis.Redis.from_url(own_redis.url)
    admin.execute_command("CLIENT", "PAUSE", "3000", "ALL")
    try:
        started = time.monotonic()
        resp = await client.post("/api/analytics/overview", json=body())
        assert resp.status == 200
        assert time.monotonic() - started < 2.5
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()


async def test_a_redis_error_about_one_command_does_not_degrade_the_process(
    sim: Sim, aiohttp_client: Any, own_redis: RedisServer
) -> None:
    """A WRONGTYPE (a hash where an answer should be) is one command's error, not Redis down:
    the request is answered, the process stays on Redis, and the key is written over."""
    client = await aiohttp_client(create_app(make_settings(sim, own_redis.url)))
    resp = await client.post("/api/analytics/overview", json=body())
    assert resp.status == 200
    r = redis.Redis.from_url(own_redis.url)
    try:
        (key,) = [
            k for k in r.keys("*:ans:overview:*") if not k.endswith((b":lease", b":progress"))
        ]
        r.delete(key)
        r.hset(key, "not", "an answer")
        await asyncio.sleep(1.1)  # past the in-process hot copy
        again = await client.post("/api/analytics/overview", json=body())
        assert again.status == 200
        assert (await (await client.get("/health")).json())["degraded"] is False
        assert r.type(key) == b"string"  # recomputed and written over the hash
    finally:
        r.close()
