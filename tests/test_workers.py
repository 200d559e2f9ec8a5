"""WEB_CONCURRENCY: several web processes on one port under a parent, with real processes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp

from service.__main__ import SHUTDOWN_SECONDS
from service.workers import CLEANUP_SECONDS
from tests.conftest import body
from tests.processes import Process, start_service, start_simulator

KEY = "VF.WS.workers-test-key-0123"


def health(url: str) -> dict[str, Any] | None:
    """One /health on a new connection (so the kernel picks a worker); None when it failed."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
            return answer
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def workers(url: str, count: int, timeout: float = 20.0) -> dict[int, int]:
    """Each worker's pid by its index, once /health has been answered by `count` of them."""
    seen: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count and time.monotonic() < deadline:
        answer = health(url)
        if answer is not None:
            assert answer["worker"]["of"] == count, answer
            seen[answer["worker"]["index"]] = answer["worker"]["pid"]
    assert sorted(seen) == list(range(count)), seen
    return seen


def test_both_workers_answer_and_a_killed_one_is_replaced(redis_url: str) -> None:
    """Both workers answer on one port; one SIGKILLed is restarted in its slot with a new pid,
    while the other answers every request meanwhile."""
    web = start_service({"REDIS_URL": redis_url, "WEB_CONCURRENCY": "2"})
    try:
        before = workers(web.url, 2)
        assert web.proc.pid not in before.values()  # the parent serves nothing itself
        os.kill(before[1], signal.SIGKILL)
        killed = time.monotonic()
        failed: list[float] = []
        answered = replaced = 0
        while time.monotonic() - killed < 20 and not replaced:
            answer = health(web.url)
            if answer is None:
                failed.append(time.monotonic() - killed)
                continue
            answered += 1
            now = answer["worker"]
            replaced = now["pid"] if now["index"] == 1 and now["pid"] != before[1] else 0
        after = workers(web.url, 2)
        log = web.log.read_text()
    finally:
        web.stop()
    assert replaced and after == {0: before[0], 1: replaced}, (before, after)
    assert answered > 1  # worker 0 served while worker 1 was being replaced
    assert all(t < 0.5 for t in failed), failed  # at most a connection the kill cut
    assert f"worker 1/2 (pid {before[1]}) exited with SIGKILL" in log


async def test_sigterm_drains_every_worker_and_the_parent_exits_0(redis_url: str) -> None:
    """SIGTERM to the parent: cold overviews in flight on the workers complete with 200, and
    the parent exits 0 within the drain bound, its workers gone."""
    sim = start_simulator(KEY, "--latency", "300")  # a cold overview takes seconds
    env = {
        "REDIS_URL": redis_url,
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "UPSTREAM_RATE_PER_SECOND": "1000",
        "UPSTREAM_BURST": "1000",
        "WEB_CONCURRENCY": "2",
    }
    web = start_service(env)

    async def ask(month: int) -> tuple[int, float]:
        """A cold 28-day overview on a connection of its own: its status, when it ended."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            asked = body(start=f"2024-{month:02d}-01", end=f"2024-{month:02d}-28")
            async with session.post(web.url + "/api/analytics/overview", json=asked) as resp:
                await resp.read()
                return resp.status, time.monotonic()

    try:
        pids = workers(web.url, 2)
        asks = [asyncio.create_task(ask(month)) for month in range(1, 9)]
        await asyncio.sleep(0.5)  # every ask is waiting on the slow simulator
        signalled = time.monotonic()
        web.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(web.proc.wait, 30)
        took = time.monotonic() - signalled
        answers = await asyncio.gather(*asks)
        log = web.log.read_text()
    finally:
        web.stop()
        sim.stop()
    assert code == 0, log[-3000:]
    assert took < SHUTDOWN_SECONDS + CLEANUP_SECONDS, took
    assert [status for status, _ in answers] == [200] * len(asks), log[-3000:]
    assert all(ended > signalled for _, ended in answers)  # they were in flight at the signal
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert not [pid for pid in pids.values() if alive(pid)], "a worker outlived its parent"


def test_without_redis_one_process_serves_and_says_why() -> None:
    """No REDIS_URL: WEB_CONCURRENCY=2 is not honoured (the store is per process); one process
    serves, and says so in a warning and in /health."""
    web = start_service({"WEB_CONCURRENCY": "2"})
    try:
        answers = [health(web.url) for _ in range(20)]
        log = web.log.read_text()
    finally:
        web.stop()
    alone = {"index": 0, "pid": web.proc.pid, "of": 1}
    assert all(a is not None and a["worker"] == alone for a in answers), answers
    assert answers[0] is not None
    assert any("not WEB_CONCURRENCY=2" in note for note in answers[0]["embedded"])
    assert "WARNING service: WEB_CONCURRENCY=2 ignored" in log


def test_a_crash_loop_backs_off(redis_url: str) -> None:
    """Workers that die at start (their port is held by a socket without SO_REUSEPORT) are
    restarted after 0.5, 1, 2 ... seconds, not at once and forever."""
    env = {"HOST": "127.0.0.1", "REDIS_URL": redis_url, "WEB_CONCURRENCY": "2"}
    pattern = (
        r"worker 0/2 \(pid \d+\) exited with code 1 after [\d.]+ s; restarting it in ([\d.]+) s"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        parent = Process("service", [], {**env, "PORT": str(port)}, port)
        try:
            deadline = time.monotonic() + 30
            while len(re.findall(pattern, parent.log.read_text())) < 3:
                assert time.monotonic() < deadline, parent.log.read_text()[-3000:]
                time.sleep(0.1)
            log = parent.log.read_text()
        finally:
            parent.stop()
    assert re.findall(pattern, log)[:3] == ["0.5", "1.0", "2.0"], log[-3000:]
