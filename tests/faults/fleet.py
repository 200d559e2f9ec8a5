"""The processes of the fault tests: how the web processes and warmers are configured, and
what the tests read from them (logs, metrics) and from the simulator and Redis."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson
import redis

from service.store.keys import Keys
from tests.faults.harness import (
    KEY,
    Answers,
    Question,
    Sample,
    percentile,
    questions,
    until_answered,
)
from tests.processes import Process, sim_control

LATENCY = 0.03  # seconds per upstream page: cold answers take a little while, as real ones do
RATE = "50"  # the fleet's upstream budget here (the default, 10, makes each refill ~5x longer)

LOAD = ["6500000000000000000000a1", "6500000000000000000000a2", "6500000000000000000000a3"]
# Warmed before the fault (the working set that must be HIT again), and a pool of cold ones.
WARM = [q for p in LOAD for q in questions(p, "2023-01-01", (7, 28))]
COLD = [q for p in LOAD for q in questions(p, "2023-02-01", (7,), starts=28)]


def web_env(sim: Process, redis_url: str, **extra: str) -> dict[str, str]:
    """A web process's (or a warmer's) environment: Redis, the simulator, RATE."""
    return {
        "REDIS_URL": redis_url,
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "UPSTREAM_RATE_PER_SECOND": RATE,
        **extra,
    }


def reference_env(sim: Process) -> dict[str, str]:
    """A clean service: its in-process store, no limit worth the name, no 503 on a wait."""
    return {
        "VOICEFLOW_API_KEY": KEY,
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "WARMER_EMBEDDED": "false",
        "UPSTREAM_RATE_PER_SECOND": "1000",
        "UPSTREAM_BURST": "1000",
        "UPSTREAM_MAX_WAIT_SECONDS": "120",
    }


def fresh_sim(sim: Process, latency: float = LATENCY) -> None:
    """The simulator's counters and log emptied, its latency set."""
    sim_control(sim, "reset")
    sim_control(sim, "config", {"latency_s": latency})


def upstream_log(sim: Process) -> list[dict[str, Any]]:
    """The upstream requests the simulator answered 200, in order."""
    return [e for e in sim_control(sim, "stats")["log"] if e["status"] == 200]


async def clean_log(proc: Process, answered: int = 0) -> None:
    """Connection and timeout errors mean Redis is down; anything else Redis refuses (a
    script's or a type error) is a bug, and so is any traceback. The log also holds an
    access line for each of the `answered` requests (its writer thread did not stop)."""
    deadline = time.monotonic() + 5
    text = proc.log.read_text()
    while text.count(" INFO service.access ") < answered and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # the writer thread may be a batch behind
        text = proc.log.read_text()
    assert text.count(" INFO service.access ") >= answered, text[-3000:]
    assert "redis refused a command" not in text, around(text, "redis refused a command")
    assert "Traceback" not in text, around(text, "Traceback")


def around(text: str, found: str) -> str:
    """The log from a little before the first `found` on: what led to it, and all of it."""
    at = text.index(found)
    return text[text.rfind("\n", 0, max(0, at - 1500)) + 1 : at + 6000]


async def warm_up(http: aiohttp.ClientSession, url: str, qs: Sequence[Question]) -> None:
    """Every question answered once (a patient client each)."""
    answers = Answers()
    await asyncio.gather(*(until_answered(http, lambda: url, q, answers) for q in qs))
    assert set(answers.seen) == set(qs), set(qs) - set(answers.seen)


def latencies(samples: Sequence[Sample]) -> str:
    seconds = [s.seconds for s in samples]
    return f"p50 {percentile(seconds, 50):.2f} s, p99 {percentile(seconds, 99):.2f} s"


def flights(proc: Process, role: str) -> float:
    """vfac_single_flight_total{role=...} of one process (leader: it computed a key)."""
    with urllib.request.urlopen(proc.url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.search(rf'^vfac_single_flight_total{{role="{role}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def presets_done_by(redis_url: str, pid: int, presets: int) -> bool:
    """The warmer process `pid` reported a presets run with all `presets` fresh."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.get(Keys("voiceflow").warmer_status)
    finally:
        client.close()
    run = orjson.loads(raw)["last_runs"].get("presets", {}) if raw else {}
    done = run.get("refreshed", 0) + run.get("fresh", 0) == presets and not run.get("failed")
    return bool(done) and f":{pid}:" in run.get("acted_by", "")
