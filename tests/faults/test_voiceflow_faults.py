"""Voiceflow's faults, end to end: the real service, over a real Redis, against the simulator.

For each fault: no 500, no request past its deadline, nothing wrong cached, and recovery once
the fault ends. The recovery tests print one line each,
`FAULT <name>: <what the client saw>; recovered in X.X s`, visible with `pytest -s`, and
append it to the file named by FAULT_REPORT when that is set (for the README's table).
Recovery is timed from the fault's end, while a fetch is stuck in it, to the first 200,
asking every POLL_S seconds.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.analytics.assemble import FIELDS
from service.app import create_app
from simulator.data import LIST_METRICS, rows_between
from tests.conftest import PROJECT, SIM_KEY, Sim, body, make_settings
from tests.redis_server import RedisServer

OVERVIEW = "/api/analytics/overview"
WEEK = body(start="2025-01-01", end="2025-01-07")  # closed days: checkpointed, kept long
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 7, 23, 59, 59, 999000, tzinfo=UTC)
POLL_S = 0.25
SLACK_S = 1.0  # scheduling on a busy machine, on top of every deadline asserted
FAULT_S = 3.0  # how long each timed fault lasts
REDIS = pytest.mark.parametrize("store_kind", ["redis"])


def report(line: str) -> None:
    print(line)
    path = os.environ.get("FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


async def ask(client: Any) -> tuple[int, Any, float]:
    """Status, body (problem or answer) and seconds taken by one overview of WEEK."""
    started = time.monotonic()
    resp = await client.post(OVERVIEW, json=WEEK)
    data = await resp.json(content_type=None)
    elapsed = time.monotonic() - started
    if resp.status != 200:
        assert resp.content_type == "application/problem+json"
        assert SIM_KEY not in await resp.text()
    if resp.status == 503:
        assert int(resp.headers["Retry-After"]) >= 1
    return resp.status, data, elapsed


def strip(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "meta"}


async def truth(sim: Sim, aiohttp_client: Any) -> dict[str, Any]:
    """WEEK's overview from a clean service (its own in-process store), with no fault on,
    checked against the simulator's rows for every list metric."""
    clean = await aiohttp_client(create_app(make_settings(sim)))
    resp = await clean.post(OVERVIEW, json=WEEK)
    assert resp.status == 200
    answer = strip(await resp.json())
    now = datetime.now(UTC)
    for metric in LIST_METRICS:
        rows = rows_between(PROJECT, metric, START, END, now)
        assert answer["totals"][FIELDS[metric][0]] == sum(r["count"] for r in rows), metric
    return answer


async def stored(redis_server: RedisServer, pattern: str) -> list[bytes]:
    """Keys matching `pattern`, but a computation's progress (what a waiting client is told,
    not data: it lapses within PROGRESS_TTL_SECONDS)."""
    async with aioredis.Redis.from_url(redis_server.url) as r:
        found: list[bytes] = await r.keys(pattern)
        return [k for k in found if not k.endswith(b":progress")]


async def recover(
    client: Any, sim: Sim, aiohttp_client: Any, bound: float
) -> tuple[float, list[int]]:
    """End the fault while an ask is under way in it (its fetch stuck in the fault), then ask
    until a 200, each ask within `bound`; the 200 must be the truth. Seconds from the fault's
    end to that 200, and the statuses before it."""
    pending = asyncio.create_task(ask(client))
    await asyncio.sleep(2 * POLL_S)
    sim.state.clear_faults()
    ended = time.monotonic()
    statuses = []
    while True:
        status, data, elapsed = await pending
        assert elapsed <= bound + SLACK_S, (elapsed, data)
        if status == 200:
            recovered = time.monotonic() - ended
            break
        assert status in (503, 504) and time.monotonic() < ended + 20.0, (status, data)
        statuses.append(status)
        await asyncio.sleep(POLL_S)
        pending = asyncio.create_task(ask(client))
    assert strip(data) == await truth(sim, aiohttp_client)
    return recovered, statuses


Seen = list[tuple[int, str, int | None, float]]  # status, problem slug, Retry-After, seconds


async def during(client: Any, seconds: float, bound: float) -> Seen:
    """Ask every POLL_S for `seconds`: never a 200 nor a 500, each answered within `bound`."""
    seen: Seen = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        status, data, elapsed = await ask(client)
        assert status in (502, 503, 504), (status, data)
        assert elapsed <= bound + SLACK_S, (elapsed, data)
        seen.append((status, data["type"].rsplit("/", 1)[-1], data.get("retry_after"), elapsed))
        await asyncio.sleep(POLL_S)
    return seen


def summary(seen: Seen) -> str:
    """E.g. `503 still-fetching Retry-After 1-2 s in <= 1.0 s (3 asks)`."""
    parts = []
    for status, slug in sorted({(s, k) for s, k, _, _ in seen}):
        these = [(r, t) for s, k, r, t in seen if (s, k) == (status, slug)]
        waits = sorted({r for r, _ in these if r is not None})
        told = "" if not waits else f" Retry-After {waits[0]}-{waits[-1]} s"
        if waits and waits[0] == waits[-1]:
            told = f" Retry-After {waits[0]} s"
        slowest = max(t for _, t in these)
        parts.append(f"{status} {slug}{told} in <= {slowest:.1f} s ({len(these)} asks)")
    return ", ".join(parts)


# --- garbage: a 502 naming the problem, nothing of it kept -----------------------------------


GARBAGE = [  # (kind, metric it is aimed at, answers spoilt, what the 502 must name)
    ("malformed_json", "interactions", 1, "interactions page 1 with malformed JSON"),
    ("missing_items", "kb_documents", 1, "kb_documents page 1 with no items"),
    ("missing_field", "function_usage", 1, "page 1 with item 93 of 184 missing period"),
    ("mistyped_field", "api_calls", 1, "with item 68 of 135 having count that is a string"),
    # Page 1 is every row with a cursor after it; page 2 starts over: row 102 of 199.
    ("endless_cursor", "unique_users", 2, "page 2 with item 1 of 97 repeating a row"),
    ("oversized_page", "credit_usage", 1, "page 1 with 750 items, more than the 500 asked"),
    ("missing_items", "top_intents", 1, "top_intents with no intents"),
    ("mistyped_field", "top_intents", 1, "intent 6 of 10 having count that is a string"),
    ("oversized_page", "top_intents", 1, "with 750 intents, more than the 500 asked"),
]


@REDIS
@pytest.mark.parametrize(("kind", "name", "n", "named"), GARBAGE)
async def test_garbage_is_a_502_naming_it_and_nothing_is_kept(
    make_client: Any,
    sim: Sim,
    aiohttp_client: Any,
    redis_server: RedisServer,
    kind: str,
    name: str,
    n: int,
    named: str,
) -> None:
    """Each garbage kind: a 502 problem naming it at once; no day, checkpoint, intents or
    answer of it stored; once it stops, the next ask fetches again and gets the truth."""
    client = await make_client()
    sim.state.garbage_next(n, kind, name)
    status, problem, elapsed = await ask(client)
    assert status == 502 and elapsed < 2.0, (status, problem)
    assert problem["type"].endswith("/upstream-bad-answer")
    assert problem["title"] == "Voiceflow answered something the API does not allow"
    assert named in problem["detail"]
    # Checked at once: what failed wrote nothing (the other metrics may still be fetching).
    assert await stored(redis_server, "*:ans:*") == []
    if name == "top_intents":
        assert await stored(redis_server, "*:intents:*") == []
    else:
        assert await stored(redis_server, f"*{{{PROJECT}:{name}}}:day:*") == []
        assert await stored(redis_server, f"*{{{PROJECT}:{name}}}:ckpt*") == []
    assert [e["garbage"] for e in sim.state.stats()["log"] if "garbage" in e] == [kind] * n

    sim.state.clear_faults()
    before = sim.requests(name)
    status, answer, recovered = await ask(client)
    assert status == 200
    assert sim.requests(name) > before, "asked Voiceflow again: nothing of the garbage was kept"
    assert strip(answer) == await truth(sim, aiohttp_client)
    report(
        f"FAULT garbage {kind} ({name}): 502 upstream-bad-answer in {elapsed:.1f} s, "
        f'"{problem["detail"]}"; recovered in {recovered:.1f} s (the next ask)'
    )


@REDIS
async def test_a_cursor_past_the_page_cap_is_a_502_naming_the_cap(
    make_client: Any, sim: Sim, redis_server: RedisServer
) -> None:
    """A query still paging at UPSTREAM_MAX_PAGES is refused, naming it, and its checkpointed
    pages are dropped (a cursor that never ends looks fine page by page)."""
    client = await make_client(UPSTREAM_MAX_PAGES="1")  # interactions and credit_usage need 2
    status, problem, _ = await ask(client)
    assert status == 502 and problem["type"].endswith("/upstream-bad-answer")
    assert "did not end within 1 pages (UPSTREAM_MAX_PAGES)" in problem["detail"]
    for metric in ("interactions", "credit_usage"):
        assert await stored(redis_server, f"*{{{PROJECT}:{metric}}}:ckpt*") == []
    assert await stored(redis_server, "*:ans:*") == []


# --- statuses and hangs: retried, told when to come back, recovered --------------------------


@REDIS
async def test_429_storm_pauses_answers_503_and_recovers(
    make_client: Any, sim: Sim, aiohttp_client: Any
) -> None:
    """429s with Retry-After for FAULT_S: every ask a 503 with Retry-After within the
    request's wait (the fetch pauses and goes on); a 200 with the truth soon after."""
    wait = 1.0
    client = await make_client(UPSTREAM_MAX_WAIT_SECONDS=str(wait))
    sim.state.fail_next(100_000, 429)
    seen = await during(client, FAULT_S, bound=wait)
    recovered, _ = await recover(client, sim, aiohttp_client, bound=wait)
    assert {s for s, *_ in seen} == {503}
    assert recovered <= 1.0 + wait + SLACK_S  # the last Retry-After (1 s), the fetch, a poll
    report(f"FAULT 429 storm: {summary(seen)}; recovered in {recovered:.1f} s")


@REDIS
async def test_5xx_storm_is_retried_answers_503_and_recovers(
    make_client: Any, sim: Sim, aiohttp_client: Any
) -> None:
    """A short burst of 500/502/503 is retried away (a 200); a persistent one is a 503 with
    Retry-After, never a 500; a 200 with the truth soon after it ends."""
    wait = 2.0
    client = await make_client(UPSTREAM_MAX_WAIT_SECONDS=str(wait))
    for status in (500, 502, 503):
        sim.state.fail_next(1, status)
    resp = await client.post(OVERVIEW, json=body(start="2025-02-01", end="2025-02-07"))
    assert resp.status == 200, "a burst shorter than the retries is retried away"
    assert sum(sim.requests(status=s) for s in (500, 502, 503)) == 3

    for _ in range(10_000):
        for status in (500, 502, 503):
            sim.state.fail_next(1, status)
    seen = await during(client, FAULT_S, bound=wait)
    recovered, _ = await recover(client, sim, aiohttp_client, bound=wait)
    assert {s for s, *_ in seen} == {503}
    # The flight in progress gives up after its retries' backoff (< 2 s), the next one succeeds.
    assert recovered <= 2.0 + 1.0 + SLACK_S
    report(f"FAULT 5xx storm (500/502/503): {summary(seen)}; recovered in {recovered:.1f} s")


@REDIS
async def test_slow_answers_time_out_within_the_deadline_and_recover(
    make_client: Any, sim: Sim, aiohttp_client: Any
) -> None:
    """Answers slower than UPSTREAM_TIMEOUT_SECONDS: each ask ends within its deadline (504,
    or 503 once the wait is up), none hangs; a 200 with the truth soon after they stop."""
    timeout, deadline, wait = 0.5, 1.5, 2.0
    client = await make_client(
        UPSTREAM_TIMEOUT_SECONDS=str(timeout),
        UPSTREAM_DEADLINE_SECONDS=str(deadline),
        UPSTREAM_MAX_WAIT_SECONDS=str(wait),
    )
    sim.state.config.hang_s = 3.0
    sim.state.hang_next(100_000)
    seen = await during(client, FAULT_S, bound=min(deadline, wait))
    recovered, _ = await recover(client, sim, aiohttp_client, bound=min(deadline, wait))
    assert {s for s, *_ in seen} <= {503, 504} and 504 in {s for s, *_ in seen}
    assert recovered <= deadline + 1.0 + SLACK_S  # the flight in progress times out, then one
    report(f"FAULT slow answers (> timeout): {summary(seen)}; recovered in {recovered:.1f} s")
