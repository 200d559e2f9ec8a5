"""The simulator's data: deterministic across apps and processes, shaped like a real project,
and growing through the current hour; and the command line that starts it on its own."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from simulator.__main__ import build_config
from simulator.data import LIST_METRICS, hour_rows, rows_between
from tests.simulator.helpers import (
    API,
    DAY,
    NOW,
    OCTOBER,
    PROJECT,
    WS_KEY,
    at,
    fixed,
    identity,
    make_client,
    post,
    query,
)

# --- determinism ------------------------------------------------------------------------------


async def test_two_apps_answer_identically(aiohttp_client: AiohttpClient) -> None:
    """Data depends only on project, metric, hour and clock: two apps give the same bytes."""
    first, _ = await make_client(aiohttp_client, seed=1)
    second, _ = await make_client(aiohttp_client, seed=2)
    for name in ("credit_usage", "top_intents"):
        _, one, _ = await post(first, query(name, limit=500))
        _, other, _ = await post(second, query(name, limit=500))
        assert one == other
        assert next(iter(one["result"].values()))


async def test_standalone_process_serves_identical_data() -> None:
    """`python -m simulator` serves the same rows as this process (no salted hash)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "VOICEFLOW_API_KEY": WS_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.post(
                        f"http://127.0.0.1:{port}{API}",
                        json=query("kb_documents", OCTOBER, limit=500),
                        headers={"authorization": WS_KEY},
                    ) as resp:
                        body = await resp.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("the simulator did not start")
    finally:
        proc.terminate()
        await proc.wait()
    expected = rows_between(PROJECT, "kb_documents", at(OCTOBER[0]), at(OCTOBER[1]), NOW)
    assert body["result"]["items"] == expected[:500]


async def test_current_hour_grows_and_future_is_empty(aiohttp_client: AiohttpClient) -> None:
    """The hour containing now shows floor(full * elapsed share); later hours have no rows."""
    hour = datetime(2025, 11, 20, 15, tzinfo=UTC)
    window = ("2025-11-20T15:00:00.000Z", "2025-11-20T15:59:59.999Z")
    seen = []
    for minutes in (10, 50, 60):
        client, _ = await make_client(
            aiohttp_client, clock=fixed(hour + timedelta(minutes=minutes))
        )
        _, body, _ = await post(client, query(window=window, limit=500))
        seen.append({identity(i): i["count"] for i in body["result"]["items"]})
    early, late, full = seen
    assert set(early) <= set(late) <= set(full)
    assert all(early[k] <= late[k] <= full[k] for k in early)
    assert sum(early.values()) < sum(late.values()) < sum(full.values())
    assert early == {k: full[k] * 10 // 60 for k in full if full[k] * 10 // 60}
    client, _ = await make_client(aiohttp_client, clock=fixed(hour + timedelta(minutes=50)))
    later = ("2025-11-20T16:00:00.000Z", "2025-11-30T23:59:59.999Z")
    assert (await post(client, query(window=later)))[1] == {"result": {"items": []}}
    for name in LIST_METRICS:
        assert (
            hour_rows(PROJECT, name, hour + timedelta(hours=1), hour + timedelta(minutes=50)) == []
        )
        assert hour_rows(PROJECT, name, hour, hour) == []


# --- data -------------------------------------------------------------------------------------


def test_rows_per_day_look_like_a_busy_project() -> None:
    """A weekday has ~100-250 rows of interactions and credit usage, fewer of the others."""
    start, end = at(DAY[0]), at(DAY[1])
    per_day = {name: len(rows_between(PROJECT, name, start, end, NOW)) for name in LIST_METRICS}
    assert 90 <= per_day["interactions"] <= 250
    assert 100 <= per_day["credit_usage"] <= 250
    for name in ("unique_users", "function_usage", "api_calls", "kb_documents", "integrations"):
        assert 0 < per_day[name] < per_day["credit_usage"]


def test_rhythm_has_quiet_nights_and_weekends() -> None:
    """Afternoons outweigh nights (UTC) and weekdays outweigh weekends."""
    rows = rows_between(PROJECT, "interactions", at(OCTOBER[0]), at(OCTOBER[1]), NOW)
    by_hour: Counter[int] = Counter()
    by_weekday: Counter[bool] = Counter()
    for row in rows:
        moment = at(row["period"])
        by_hour[moment.hour] += row["count"]
        by_weekday[moment.weekday() >= 5] += row["count"]
    assert by_hour[14] + by_hour[15] > 4 * (by_hour[2] + by_hour[3])
    assert by_weekday[False] / 23 > 1.5 * by_weekday[True] / 8  # October 2025: 23 weekdays


def test_helpers_refuse_naive_or_unaligned_hours() -> None:
    """hour_rows wants an aware datetime on the hour, and list metrics only."""
    with pytest.raises(ValueError, match="naive"):
        hour_rows(PROJECT, "interactions", datetime(2025, 11, 3, 14), NOW)
    with pytest.raises(ValueError, match="start of a UTC hour"):
        hour_rows(PROJECT, "interactions", datetime(2025, 11, 3, 14, 30, tzinfo=UTC), NOW)
    with pytest.raises(ValueError, match="list metric"):
        rows_between(PROJECT, "top_intents", at(DAY[0]), at(DAY[1]), NOW)


def test_ninety_days_are_fast() -> None:
    """rows_between over 90 days of one metric stays well under a second, even cold."""
    started = time.perf_counter()
    rows = rows_between(
        "0123456789abcdef01234567", "credit_usage", NOW - timedelta(days=90), NOW, NOW
    )
    assert rows
    assert time.perf_counter() - started < 1.0


# --- command line -----------------------------------------------------------------------------


def test_cli_needs_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --api-key or VOICEFLOW_API_KEY the CLI exits 2 naming the flag."""
    with pytest.raises(SystemExit) as exited:
        build_config(["--port", "1"], {})
    assert exited.value.code == 2
    assert "--api-key" in capsys.readouterr().err


def test_cli_builds_the_config() -> None:
    """Flags map onto SimulatorConfig (latency in ms); the env key is the fallback."""
    _, config = build_config(
        ["--port", "1", "--latency", "250", "--rate", "5", "--burst", "3", "--error-rate", "0.1"],
        {"VOICEFLOW_API_KEY": WS_KEY},
    )
    assert config.api_keys == (WS_KEY,)
    assert (config.latency_s, config.rate_per_second, config.burst, config.error_rate) == (
        0.25,
        5.0,
        3,
        0.1,
    )
    _, config = build_config(["--port", "1", "--api-key", "a", "--api-key", "b"], {})
    assert config.api_keys == ("a", "b")
