"""The fault matrix, continued: the warmer SIGKILLed mid-run (see test_process_faults.py
for what every fault is held to)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.config.warmer import WarmerConfig
from tests.faults.fleet import (
    COLD,
    WARM,
    clean_log,
    fresh_sim,
    latencies,
    presets_done_by,
    upstream_log,
    warm_up,
    web_env,
)
from tests.faults.harness import (
    Answers,
    Load,
    Question,
    Reference,
    questions,
    report,
    seconds_until,
    seen_by_client,
    session,
    until,
    until_answered,
    violations,
    wrong_answers,
)
from tests.processes import Process, start_service
from tests.redis_server import RedisServer, free_port

WARMED = "6500000000000000000000d1"  # the project only the warmer warms (presets below)
WARMER_LATENCY = 0.25  # per page: a run takes seconds, so the warmer is caught mid-run
WARMER_INTERVAL = 5.0
WARMER_TOML = f"""
[refresh]
interval_seconds = {WARMER_INTERVAL}

[[projects]]
id = "{WARMED}"
tz = "UTC"
presets = ["last_90", "last_30"]
"""
PRESET_DAYS = {"last_90": 90, "last_30": 30}


def closed_days(body: dict[str, Any], before: str) -> list[dict[str, Any]]:
    return [d for d in body["daily"] if d["date"] < before]


@pytest.mark.timeout(150)
async def test_warmer_sigkilled_mid_run(
    sim_proc: Process, reference: Reference, own_redis: RedisServer, tmp_path: Path
) -> None:
    """The warmer SIGKILLed mid-run: web traffic goes on within its contract; a warmer
    started at once acts within the leader lease and completes the presets; what the dead
    one half-wrote is never served (answers over its days equal the reference's)."""
    fresh_sim(sim_proc, WARMER_LATENCY)
    (tmp_path / "warmer.toml").write_text(WARMER_TOML)
    env = web_env(sim_proc, own_redis.url, WARMER_CONFIG=str(tmp_path / "warmer.toml"))
    cfg = WarmerConfig()  # the default lease and beat
    web = start_service(env)
    first = Process("warmer", [], env, free_port())
    second: Process | None = None

    def warmer_fetched() -> int:
        return sum(e["projectID"] == WARMED for e in upstream_log(sim_proc))

    try:
        async with session() as http:
            await warm_up(http, web.url, WARM)
            async with Load(http, web.url, WARM, COLD) as load:
                # Mid-run: some pages of the presets are in, not all.
                await until(lambda: warmer_fetched() >= 15, 30, "the warmer fetching")
                assert "finished presets" not in first.log.read_text()
                first.kill()
                killed = time.monotonic()
                second = Process("warmer", [], env, free_port())
                pid = second.proc.pid
                # The lease lapses, the next step takes it, the next tick runs the presets.
                bound = cfg.lease + cfg.lease / 3 + WARMER_INTERVAL + 30

                async def done() -> bool:
                    return presets_done_by(own_redis.url, pid, len(PRESET_DAYS))

                recovered = await seconds_until(done, killed, bound)
                ended = time.monotonic()
            await clean_log(web, answered=len(load.samples))
            await clean_log(second)
            paid = warmer_fetched()
            today = datetime.now(UTC).date()
            presets = {
                name: Question("overview", WARMED, str(today - timedelta(days=n - 1)), str(today))
                for name, n in PRESET_DAYS.items()
            }
            served = {}
            for name, q in presets.items():  # as the web serves them: the warmer's work
                async with http.post(web.url + q.path, json=q.payload()) as resp:
                    assert (resp.status, resp.headers["X-Cache"]) == (200, "HIT"), name
                    served[name] = await resp.json()
            truths = {name: await reference.body(http, q) for name, q in presets.items()}
            needed = warmer_fetched() - paid  # what a clean fill of the presets costs
            # Questions over the days the warmers stored, closed days only: exact answers.
            answers = Answers()
            for q in questions(WARMED, str(today - timedelta(days=60)), (30,)):
                await until_answered(http, lambda: web.url, q, answers)
            load.answers.seen.update(answers.seen)
            bad = violations(load.samples)
            wrong = await wrong_answers(http, web.url, reference, load.answers)
            before = str(today - timedelta(days=1))  # today and yesterday may still change
            for name, truth in truths.items():
                if closed_days(served[name], before) != closed_days(truth, before):
                    wrong.append(f"{name}: its closed days differ from the reference's")
    finally:
        for proc in (web, first, second):
            if proc is not None:
                proc.stop()
    assert not bad, bad[:10]
    assert not wrong, wrong[:10]
    during = load.between(killed, ended)
    report(
        "warmer SIGKILLed mid-run",
        f"web load meanwhile: {seen_by_client(during)}",
        recovered,
        f"a new warmer started at once completed the presets (leader lease {cfg.lease:.0f} s, "
        f"job every {WARMER_INTERVAL:.0f} s); web {latencies(during)} over {len(during)} "
        f"requests; the warmers sent {paid} upstream requests for presets a clean fill gets "
        f"with {needed}; 0 half-written answers",
    )
