"""The Voiceflow analytics simulator's knobs: rate budget, faults, latency, stats, control plane."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from simulator import SimulatorConfig, create_simulator_app
from simulator.errors import RATE_LIMITED_MESSAGE
from tests.simulator.helpers import API, DAY, DM_KEY, PROJECT, WS_KEY, make_client, post, query

# --- rate budget ------------------------------------------------------------------------------


async def test_budget_answers_429_then_recovers(aiohttp_client: AiohttpClient) -> None:
    """Past the burst a key gets 429 + Retry-After; other keys are unaffected; tokens refill."""
    client, state = await make_client(aiohttp_client, rate_per_second=4.0, burst=2)
    remaining = []
    for _ in range(2):
        status, _, headers = await post(client, query(limit=1))
        assert status == 200
        assert headers["X-RateLimit-Limit"] == "2"
        assert int(headers["X-RateLimit-Reset"]) >= 1
        remaining.append(headers["X-RateLimit-Remaining"])
    assert remaining == ["1", "0"]
    status, body, headers = await post(client, {"invalid": "body"})  # budget precedes validation
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body == {"statusCode": 429, "message": RATE_LIMITED_MESSAGE}
    assert (await post(client, query(limit=1), key=DM_KEY))[0] == 200
    await asyncio.sleep(0.3)
    assert (await post(client, query(limit=1)))[0] == 200
    assert state.stats()["rate_limited"] == 1


async def test_retry_after_is_the_ceiling_of_the_wait(aiohttp_client: AiohttpClient) -> None:
    """Retry-After is the whole seconds to the next token (2 at 0.5/s); no budget, no headers."""
    client, state = await make_client(aiohttp_client, rate_per_second=0.5, burst=1)
    assert (await post(client, query(limit=1)))[0] == 200
    status, _, headers = await post(client, query(limit=1))
    assert (status, headers["Retry-After"]) == (429, "2")
    state.config.rate_per_second = None
    status, _, headers = await post(client, query(limit=1))
    assert status == 200
    assert "X-RateLimit-Limit" not in headers


# --- faults, latency, stats -------------------------------------------------------------------


async def test_fail_next_answers_the_status_before_auth(aiohttp_client: AiohttpClient) -> None:
    """fail_next(n, status) makes the next n requests fail, whatever their key, then recovers."""
    client, state = await make_client(aiohttp_client)
    state.fail_next(2, 502)
    status, body, _ = await post(client, query(), key="VF.WS.wrong")
    assert (status, body["statusCode"]) == (502, 502)
    assert (await post(client, query()))[0] == 502
    assert (await post(client, query()))[0] == 200
    assert state.stats()["answered"] == {502: 2, 200: 1}


async def test_hang_next_delays_then_answers(aiohttp_client: AiohttpClient) -> None:
    """hang_next(1) holds one request hang_s seconds; a shorter client timeout sees a timeout."""
    client, state = await make_client(aiohttp_client, hang_s=0.3)
    state.hang_next(1)
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started < 0.25
    state.hang_next(1)
    with pytest.raises(TimeoutError):
        await client.post(
            API,
            json=query(limit=1),
            headers={"authorization": WS_KEY},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    await asyncio.sleep(0.3)  # let the held handler finish before teardown


async def test_error_rate_is_seeded(aiohttp_client: AiohttpClient) -> None:
    """error_rate draws 500/502/503 from a seeded RNG: same seed, same sequence."""
    sequences = []
    for _ in range(2):
        client, _ = await make_client(aiohttp_client, error_rate=0.5, seed=7)
        sequences.append([(await post(client, query(limit=1)))[0] for _ in range(20)])
    assert sequences[0] == sequences[1]
    assert set(sequences[0]) - {200} <= {500, 502, 503}
    assert 200 in sequences[0] and len(set(sequences[0])) > 1


async def test_timeout_rate_hangs(aiohttp_client: AiohttpClient) -> None:
    """timeout_rate=1 makes every request wait hang_s before its normal answer."""
    client, _ = await make_client(aiohttp_client, timeout_rate=1.0, hang_s=0.2)
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started >= 0.2


async def test_latency_applies_after_auth(aiohttp_client: AiohttpClient) -> None:
    """latency_s delays answered queries; a 401 is answered at once (auth precedes latency)."""
    client, _ = await make_client(aiohttp_client, latency_s=0.2)
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    assert (await post(client, query(limit=1), key="VF.WS.wrong"))[0] == 401
    assert time.monotonic() - started < 0.15


async def test_stats_count_everything_and_reset_zeroes(aiohttp_client: AiohttpClient) -> None:
    """stats() counts requests, statuses, 200s per name and logs each request; reset() zeroes."""
    client, state = await make_client(aiohttp_client)
    _, first, _ = await post(client, query(limit=5))
    await post(client, query(limit=5, cursor=first["result"]["cursor"]))
    await post(client, query("top_intents"))
    await post(client, query(limit=0))
    await post(client, query(), key=None)
    stats = state.stats()
    assert stats["requests"] == 5
    assert stats["answered"] == {200: 3, 400: 1, 401: 1}
    assert stats["by_name"] == {"interactions": 2, "top_intents": 1}
    assert stats["rate_limited"] == 0
    assert [e["status"] for e in stats["log"]] == [200, 200, 200, 400, 401]
    assert stats["log"][1] == {
        "name": "interactions",
        "projectID": PROJECT,
        "startTime": DAY[0],
        "endTime": DAY[1],
        "cursor": first["result"]["cursor"],
        "status": 200,
        "at": pytest.approx(time.time(), abs=5),
    }
    state.fail_next(1)
    state.reset()
    assert state.stats() == {
        "requests": 0,
        "answered": {},
        "by_name": {},
        "rate_limited": 0,
        "log": [],
    }
    assert (await post(client, query()))[0] == 200


# --- control plane ----------------------------------------------------------------------------


async def test_control_plane(aiohttp_client: AiohttpClient) -> None:
    """/_sim/* reads stats, resets, tunes config (400 on bad fields) and queues faults."""
    client, state = await make_client(aiohttp_client)
    await post(client, query(limit=1))
    async with client.get("/_sim/stats") as resp:
        assert (await resp.json())["answered"] == {"200": 1}
    async with client.post(
        "/_sim/config", json={"latency_s": 0, "rate_per_second": 50, "burst": 3, "hang_s": 0.2}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["burst"] == 3
    assert (state.config.rate_per_second, state.config.burst, state.config.hang_s) == (50.0, 3, 0.2)
    for bad in ({"nope": 1}, {"burst": "3"}, {"burst": 0}, {"error_rate": 2}, [1]):
        async with client.post("/_sim/config", json=bad) as resp:
            assert resp.status == 400
            assert (await resp.json())["statusCode"] == 400
    async with client.post("/_sim/fail_next", json={"n": 1, "status": 500}) as resp:
        assert resp.status == 200
    assert (await post(client, query(limit=1)))[0] == 500
    for bad in ({"n": -1}, {"n": 1, "status": 200}, {"n": "1"}, {"n": 1, "x": 2}):
        async with client.post("/_sim/fail_next", json=bad) as resp:
            assert resp.status == 400
    async with client.post("/_sim/hang_next", json={"n": 1}) as resp:
        assert resp.status == 200
    started = time.monotonic()
    assert (await post(client, query(limit=1)))[0] == 200
    assert time.monotonic() - started >= 0.2
    async with client.post("/_sim/reset") as resp:
        assert resp.status == 200
    assert state.stats()["requests"] == 0


async def test_control_plane_can_be_left_out(aiohttp_client: AiohttpClient) -> None:
    """create_simulator_app(control=False) serves only the API."""
    app = create_simulator_app(SimulatorConfig(api_keys=(WS_KEY,)), control=False)
    client = await aiohttp_client(app)
    async with client.get("/_sim/stats") as resp:
        assert resp.status == 404
