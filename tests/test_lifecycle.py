"""Shutdown under load: SIGTERM ends a web process and a warmer cleanly, leases released."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import redis

from tests.conftest import PROJECT, body
from tests.processes import Process, start_service, start_simulator
from tests.redis_server import free_port

KEY = "VF.WS.lifecycle-test-key"
LATENCY_MS = "300"  # every upstream page is slow, so fetches are mid-flight when the signal lands
COLD_ASKS = 40  # distinct cold quarters: more work than a 10 s drain can finish
WARMER_TOML = f"""
[refresh]
interval_seconds = 1

[leader]
lease_seconds = 3
heartbeat_seconds = 0.5

[[projects]]
id = "{PROJECT}"
tz = "UTC"
"""


def keys(url: str, pattern: str) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return sorted(k.decode() for k in client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


def leases(url: str) -> list[str]:
    """Single-flight and day leases, and the warmer's leader lease."""
    return keys(url, "*:lease") + keys(url, "*:warmer:leader")


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.05)
    return False


def terminate(proc: Process, timeout: float = 30.0) -> tuple[int, str]:
    """SIGTERM; the exit code and the whole log once it has exited."""
    proc.proc.send_signal(signal.SIGTERM)
    code = proc.proc.wait(timeout)
    text = proc.log.read_text()
    proc.stop()  # already exited: closes and removes the log
    return code, text


async def cold_asks(url: str) -> list[int | str]:
    """COLD_ASKS different quarters at once; each answer's status, or the error's name."""

    async def ask(session: aiohttp.ClientSession, i: int) -> int | str:
        year, quarter = 2020 + i // 4, i % 4
        start, end = f"{year}-{3 * quarter + 1:02d}-01", f"{year}-{3 * quarter + 3:02d}-28"
        try:
            async with session.post(
                url + "/api/analytics/overview", json=body(start=start, end=end)
            ) as resp:
                await resp.read()
                return resp.status
        except aiohttp.ClientError as exc:  # the listener is closed once the drain starts
            return type(exc).__name__

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await asyncio.gather(*(ask(session, i) for i in range(COLD_ASKS)))


async def test_sigterm_under_load_logs_no_error_and_leaves_no_lease(
    redis_url: str, tmp_path: Path
) -> None:
    """SIGTERM mid-fetch: both processes exit 0, log no error, and leave no lease in Redis."""
    sim = start_simulator(KEY, "--latency", LATENCY_MS)
    config = tmp_path / "warmer.toml"
    config.write_text(WARMER_TOML)
    env = {
        "REDIS_URL": redis_url,
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "UPSTREAM_RATE_PER_SECOND": "1000",
        "UPSTREAM_BURST": "1000",
        "WARMER_CONFIG": str(config),
    }
    web = start_service(env)
    warmer = Process("warmer", [], env, free_port())
    try:
        # The warmer is busy once it holds the leader lease and has started on the presets.
        assert wait_for(lambda: any(k.endswith(":lease") for k in leases(redis_url)), 20)
        load = asyncio.create_task(cold_asks(web.url))
        await asyncio.sleep(2.0)
        held = leases(redis_url)
        assert any(":day:" in k for k in held), held  # day fetches are in flight
        web_code, web_log = await asyncio.to_thread(terminate, web)
        warmer_code, warmer_log = await asyncio.to_thread(terminate, warmer)
        statuses = await load
    finally:
        for proc in (web, warmer, sim):
            proc.stop()
    for name, code, log in (("web", web_code, web_log), ("warmer", warmer_code, warmer_log)):
        assert code == 0, f"{name} exited {code}:\n{log[-3000:]}"
        assert " ERROR " not in log and "Traceback" not in log, f"{name} logged:\n{log[-3000:]}"
    assert leases(redis_url) == []
    # Every ask got an answer, an honest 503, or found the listener closed: never a 500.
    assert 500 not in statuses, statuses
    assert set(statuses) <= {200, 503, "ServerDisconnectedError", "ClientConnectorError"}, statuses
