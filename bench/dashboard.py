"""A cold dashboard at the rate limit over two web processes, then kept fresh by the warmer.

The simulator allows 10 requests a second per key (burst 10); two web processes run with the
default settings on one real Redis, started empty. The dashboard load: 20 asks a second, each
try sent to the next web process in turn; 8 projects (bench.workload's ids), each in its own
whole-hour zone, asking for a preset of the project's local today (last 7 / 30 / 90 days,
month to date), 30% of them a compare. Each ask is a careful client: on a 503 it sleeps
Retry-After and asks again, until it gets anything else.

(c) Cold fill: the time until each of the 64 answers (8 projects x 4 presets x overview,
    compare) has been answered 200 once, against the floor (pages needed / 10 per s); from
    the simulator's log, requests, 429s and pages fetched twice; then AFTER s more of the
    load: errors, and the share served at once (HIT or STALE, no 503 first).
(d) The stored answers (not the days) are dropped, so that every answer from then on lives
    10 s; the web processes are restarted with CACHE_TTL_SECONDS=10 and the warmer started
    with the 8 projects in its config. It talks to a simulator of its own (same key, limit
    and data; the fleet's budget in Redis is shared all the same), so each simulator's log
    says exactly whose requests are whose.
Then (c) again at a generous budget (simulator unlimited, UPSTREAM_RATE_PER_SECOND=1000).
Service and simulator logs are kept in LOGS.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import redis

from bench.dashboard_load import (
    AFTER,
    ANSWERS,
    COMPARE_SHARE,
    FILL_LIMIT,
    GENEROUS_AFTER,
    KINDS,
    LOAD,
    LOGS,
    OPEN_DAY_TTL,
    PRESETS,
    RATE,
    STORE,
    TIGHT,
    TTL,
    WARM,
    WARMER_TOML,
    ZONES,
    Dashboard,
    audit,
    floor_pages,
    sim_log,
    start_webs,
    stop,
)
from bench.env import KEY, Redis
from bench.workload import project_id
from tests.processes import Process, sim_control, start_simulator
from tests.redis_server import RedisServer, free_port


async def fill(redis_url: str, tight: bool, after: float) -> list[str]:
    """(c): the cold fill, then `after` s more of the load, at the tight or a generous budget."""
    tag, rate = ("tight", RATE) if tight else ("generous", 1000.0)
    sim = start_simulator(KEY, *(TIGHT if tight else ()))
    budget = {} if tight else {"UPSTREAM_RATE_PER_SECOND": "1000", "UPSTREAM_BURST": "1000"}
    webs = start_webs(sim, redis_url, **budget)
    pages, intents, runs = floor_pages(datetime.now(UTC))
    need, dash = pages + intents, Dashboard([w.url for w in webs], seed=11)

    def target(text: str, good: bool) -> str:  # the targets are the tight budget's
        return f" (target {text}): {'ok' if good else 'MISSED'}" if tight else ""

    def done() -> bool:
        t = dash.now()
        return t >= FILL_LIMIT if dash.filled_at is None else t >= dash.filled_at + after

    try:
        load = asyncio.create_task(dash.run(done))
        filled = asyncio.create_task(dash.filled.wait())
        await asyncio.wait({load, filled}, return_when=asyncio.FIRST_COMPLETED)
        filled.cancel()
        problems, told = Counter(dash.problems), Counter(dash.told)  # the fill's
        at_fill = await asyncio.to_thread(sim_log, sim, f"{tag}-simulator-at-fill")
        cut = await load
        at_end = await asyncio.to_thread(sim_control, sim, "stats")
    finally:
        stop([*webs, sim], tag)
    lines = [
        f"  floor: {pages} list-metric pages (per project and metric, the union of the UTC days"
        f" the answers need, one window per contiguous run, ceil(rows/500) pages each) +"
        f" {intents} top_intents windows = {need} requests / {rate:g} per s = {need / rate:.1f} s"
    ]
    if dash.filled_at is None:
        never = set(itertools.product(range(len(ZONES)), PRESETS, KINDS)) - set(dash.first_ok)
        return [*lines, f"  NOT filled within {FILL_LIMIT:.0f} s; never answered: {sorted(never)}"]
    seen, throttled, again_closed, again_open, renewed, windows = audit(at_fill["log"])
    ratio, again = dash.filled_at * rate / need, again_closed + again_open
    waits = [
        dash.first_ok[(i, "last_7", "overview")] - dash.first_ask[(i, "last_7", "overview")]
        for i in range(len(ZONES))
    ]
    lines += [
        f"  all {ANSWERS} answers filled after {dash.filled_at:.1f} s = {ratio:.2f}x the floor"
        + target("<= 1.2", ratio <= 1.2)
        + f" (the last of them was first asked at {max(dash.first_ask.values()):.1f} s)",
        f"  simulator until then: {seen} requests ({seen / need:.2f}x pages needed; the"
        f" list metrics asked in {windows} windows, the floor's {runs}), 429s"
        f" {throttled}{target('<= 1', throttled <= 1)}; pages fetched twice {again}"
        f"{target('0', again == 0)} ({again_closed} of settled windows, {again_open} open ones"
        f" within their {OPEN_DAY_TTL:.0f} s TTL; open ones renewed after it: {renewed})",
        f"  last_7 overview, its first ask to its first 200: max {max(waits):.1f} s"
        + target("<= 20 s each", max(waits) <= 20),
        "    " + ", ".join(f"{tz} {w:.1f}" for tz, w in zip(ZONES, waits, strict=True)),
        *fill_detail(dash, dash.filled_at, problems, told),
    ]
    late = [o for o in dash.outcomes if o.asked >= dash.filled_at]
    errors = sum(o.unavailable + (o.status != 200) for o in late)
    quick = sum(o.status == 200 and not o.unavailable and o.cache in ("HIT", "STALE") for o in late)
    share = quick / max(1, len(late))
    return [
        *lines,
        f"  {after:.0f} s more once filled: {len(late)} asks, errors {errors} (503s and others)"
        + target("0", errors == 0)
        + f"; served at once (HIT/STALE) {share:.2%}"
        + target(">= 99%", share >= 0.99)
        + f"; upstream requests meanwhile {at_end['requests'] - at_fill['requests']};"
        f" asks cut at the end {cut}",
    ]


def fill_detail(
    dash: Dashboard, filled_at: float, problems: Counter[tuple[str, int, str]], told: Counter[str]
) -> list[str]:
    """Where the fill's time went: per preset and kind, when its 8 answers came, the 503s."""
    during = [o for o in dash.outcomes if o.asked < filled_at]
    by_type = Counter[str]()
    for (_, _, problem), n in problems.items():
        by_type[problem] += n
    mean = {p: round(told[p] / n, 1) for p, n in by_type.items()}
    lines = [
        f"  during the fill: {len(during)} asks; non-200 answers by (kind, status, type):"
        f" {dict(problems)}; mean Retry-After told by type, s: {mean}",
        "    preset, kind            asks  503s  first 200 at s (min / median / max)"
        "  first ask -> first 200, max s",
    ]
    for preset, kind in itertools.product(PRESETS, KINDS):
        asks = [o for o in during if o.answer[1:] == (preset, kind)]
        ids = [(i, preset, kind) for i in range(len(ZONES))]
        at = sorted(dash.first_ok[a] for a in ids)
        lag = max(dash.first_ok[a] - dash.first_ask[a] for a in ids)
        lines.append(
            f"    {preset + ' ' + kind:22} {len(asks):5} {sum(o.unavailable for o in asks):5}"
            f"  {at[0]:11.1f} {at[len(at) // 2]:8.1f} {at[-1]:6.1f}{lag:32.1f}"
        )
    return lines


def warmer_history(url: str, drop_answers: bool = False) -> list[dict[str, Any]]:
    """The warmer's last runs, from its status key; first drops every stored answer (and its
    lease and progress: the days and the popularity stay) when asked to."""
    with redis.Redis.from_url(url) as client:
        if drop_answers:
            for key in client.scan_iter(match=f"{STORE.prefix}:ans:*", count=1000):
                client.delete(key)
        raw = client.get(STORE.warmer_status)
    return [] if raw is None else list(orjson.loads(raw).get("history", []))


async def warm(redis_url: str) -> list[str]:
    """(d): the filled Redis, a 10 s soft TTL, the warmer on; WARM s of the dashboard load."""
    warmer_history(redis_url, drop_answers=True)
    web_sim, warmer_sim = (start_simulator(KEY, *TIGHT) for _ in range(2))
    runs: dict[tuple[str, float], dict[str, Any]] = {}  # the warmer's reports, by job and start

    async def collect() -> None:
        for report in await asyncio.to_thread(warmer_history, redis_url):
            runs[(report["job"], report["started"])] = report

    with tempfile.TemporaryDirectory(prefix="vfac-dashboard-") as tmp:
        config = Path(tmp) / "warmer.toml"
        projects = [
            f'\n[[projects]]\nid = "{project_id(i)}"\ntz = "{tz}"\n' for i, tz in enumerate(ZONES)
        ]
        config.write_text(WARMER_TOML + "".join(projects))
        env = {"CACHE_TTL_SECONDS": str(TTL), "WARMER_CONFIG": str(config), "LOG_LEVEL": "INFO"}
        webs = start_webs(web_sim, redis_url, **env)
        base = {"REDIS_URL": redis_url, "VOICEFLOW_API_KEY": KEY}
        warmer_env = {**base, "VOICEFLOW_ANALYTICS_URL": warmer_sim.url, **env}
        warmer, began = Process("warmer", [], warmer_env, free_port()), time.time()
        dash = Dashboard([w.url for w in webs], seed=12)
        try:
            while not any(job == "presets" for job, _ in runs) and time.time() < began + 60:
                await asyncio.sleep(0.5)
                await collect()
            warmed_in = time.time() - began
            load = asyncio.create_task(dash.run(lambda: dash.now() >= WARM))
            filled = asyncio.create_task(dash.filled.wait())
            once: tuple[float, int, int] | None = None  # when all were served once; requests
            while not load.done():
                await asyncio.wait({load, filled}, timeout=2.0, return_when=asyncio.FIRST_COMPLETED)
                await collect()
                if filled.done() and once is None:
                    web, own = await asyncio.gather(
                        *(asyncio.to_thread(sim_control, p, "stats") for p in (web_sim, warmer_sim))
                    )
                    once = (dash.now(), web["requests"], own["requests"])
            filled.cancel()
            cut = load.result()
        finally:
            stop([warmer], "warm-warmer")
            await collect()
            web_stats, warmer_stats = (
                sim_log(web_sim, "warm-web-simulator"),
                sim_log(warmer_sim, "warm-warmer-simulator"),
            )
            stop([*webs, web_sim, warmer_sim], "warm")
        lasted = time.time() - began
    repeats = [o for o in dash.outcomes if o.asked >= dash.first_ok.get(o.answer, math.inf)]
    served = Counter(
        o.cache if o.status == 200 and not o.unavailable else "waited" for o in repeats
    )
    fresh = served["HIT"] / max(1, len(repeats))
    stale = [o for o in repeats if o.cache != "HIT" or o.unavailable]
    by_kind = Counter(f"{o.answer[1]} {o.answer[2]}" for o in stale)
    when = f"{min(o.asked for o in stale):.0f}-{max(o.asked for o in stale):.0f}" if stale else "-"
    at, web_once, own_once = once or (math.nan, 0, 0)
    reported = sum(r["upstream"] for r in runs.values())
    over = sum(r["upstream"] > r["allowance"] for r in runs.values())
    early = Counter(
        str(r["stopped_early"]).split(":")[0] for r in runs.values() if r["stopped_early"]
    )
    both = warmer_stats["requests"] + web_stats["requests"]
    return [
        f"  answers dropped (days kept), web processes restarted with CACHE_TTL_SECONDS={TTL};"
        f" warmer every 4 s, margin 2 s, top_k 100; its first presets run done {warmed_in:.1f} s"
        " after it started",
        f"  {WARM:.0f} s of the load: {len(dash.outcomes)} asks, {len(repeats)} after their"
        f" answer's first 200: fresh HIT {fresh:.2%} (target >= 99%):"
        f" {'ok' if fresh >= 0.99 else 'MISSED'}; served {dict(served)}; non-200 answers"
        f" {dict(dash.problems)}; asks cut at the end {cut}",
        f"    not fresh, by preset and kind: {dict(by_kind)}, asked {when} s into the load",
        f"  upstream over the warmer's {lasted:.0f} s (warm-up, load, shutdown): its own simulator"
        f" saw {warmer_stats['requests']} (429s {warmer_stats['rate_limited']}); its reports say"
        f" {reported} over {len(runs)} runs ({over} over their allowance, stopped early"
        f" {dict(early)}); the web processes' simulator saw {web_stats['requests']} (429s"
        f" {web_stats['rate_limited']}); both {both / lasted:.2f} req/s of the {RATE:g} budget",
        f"    once every answer had been served in (d) ({at:.1f} s into the load): web"
        f" {web_stats['requests'] - web_once} requests after, {web_once} before; the warmer's"
        f" simulator {warmer_stats['requests'] - own_once} after, {own_once} before",
    ]


async def run() -> None:
    LOGS.mkdir(exist_ok=True)
    print(
        f"dashboard: {len(ZONES)} projects x {len(PRESETS)} presets x {KINDS}, {LOAD:g} asks/s"
        f" ({COMPARE_SHARE:.0%} compare) over 2 web processes, clients following Retry-After;"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; logs in {LOGS}"
    )
    with Redis() as server:
        print(f"(c) cold fill, simulator {RATE:g} req/s (burst {RATE:g}), default settings:")
        print("\n".join(await fill(server.url, tight=True, after=AFTER)))
        print("(d) after the fill, warmer on:")
        print("\n".join(await warm(server.url)))
        RedisServer.flush_url(server.url)
        print("    generous budget (simulator unlimited, UPSTREAM_RATE_PER_SECOND=1000):")
        print("\n".join(await fill(server.url, tight=False, after=GENEROUS_AFTER)))


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
