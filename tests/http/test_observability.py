"""`GET /metrics` agrees with what clients and Voiceflow saw; logs carry the request id."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from service import logs
from tests.conftest import SIM_KEY, Sim, body
from tests.http.conftest import JsonLogs

OVERVIEW = "/api/analytics/overview"


async def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by name and labels."""
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


async def test_counters_agree_with_the_headers_and_the_simulator(client: Any, sim: Sim) -> None:
    before, sim_before = await scrape(client), len(sim.state.stats()["log"])
    seen: Counter[str] = Counter()
    for month in ("01", "02", "01", "03", "02", "01"):
        resp = await client.post(
            OVERVIEW, json=body(start=f"2025-{month}-01", end=f"2025-{month}-28")
        )
        assert resp.status == 200
        seen[resp.headers["X-Cache"]] += 1
    bad = await client.post(OVERVIEW, json=body(start="2025-02-30"))
    assert bad.status == 400
    after = await scrape(client)
    for cache, n in seen.items():
        name = "vfac_http_requests_total"
        counted = total(after, name, route=OVERVIEW, status="200", cache=cache)
        assert counted - total(before, name, route=OVERVIEW, status="200", cache=cache) == n
    assert seen["MISS"] == 3 and seen["HIT"] == 3
    rejected = total(after, "vfac_http_requests_total", route=OVERVIEW, status="400")
    assert rejected - total(before, "vfac_http_requests_total", route=OVERVIEW, status="400") == 1
    durations = total(after, "vfac_http_request_duration_seconds_count", route=OVERVIEW)
    assert (
        durations - total(before, "vfac_http_request_duration_seconds_count", route=OVERVIEW) == 7
    )
    sent = total(after, "vfac_upstream_requests_total") - total(
        before, "vfac_upstream_requests_total"
    )
    assert sent == len(sim.state.stats()["log"]) - sim_before > 0
    ok = total(after, "vfac_upstream_requests_total", outcome="ok", priority="user")
    assert ok - total(before, "vfac_upstream_requests_total", outcome="ok", priority="user") == sent
    ages = total(after, "vfac_answer_age_seconds_count", kind="overview")
    assert ages - total(before, "vfac_answer_age_seconds_count", kind="overview") == 6
    leaders = total(after, "vfac_single_flight_total", role="leader")
    assert leaders - total(before, "vfac_single_flight_total", role="leader") >= 3


async def test_a_scrape_reads_the_budget_and_the_warmer_from_the_store(client: Any) -> None:
    samples = await scrape(client)
    assert total(samples, "vfac_budget_tokens") > 0
    assert total(samples, "vfac_budget_paused_until_timestamp_seconds") == 0
    assert total(samples, "vfac_budget_rate_per_second") == 10000
    assert total(samples, "vfac_store_degraded") == 0
    assert total(samples, "vfac_warmer_heartbeat_age_seconds") == float("inf")  # none runs


async def test_the_request_id_is_echoed_and_on_every_line_it_causes(
    client: Any, json_logs: JsonLogs
) -> None:
    resp = await client.post(OVERVIEW, json=body(), headers={"X-Request-ID": "dash-42.a"})
    assert resp.status == 200 and resp.headers["X-Request-ID"] == "dash-42.a"
    insane = await client.post(OVERVIEW, json=body(), headers={"X-Request-ID": "a b\tc" * 40})
    generated = insane.headers["X-Request-ID"]
    assert len(generated) == 16 and " " not in generated
    problem = await client.post(OVERVIEW, json={"project_id": 1})
    assert problem.status == 400 and problem.headers["X-Request-ID"]

    records = json_logs.records()
    mine = [r for r in records if r.get("request_id") == "dash-42.a"]
    access = [r for r in mine if r["logger"] == "service.access"]
    assert len(access) == 1
    line = access[0]
    assert (line["method"], line["route"], line["status"], line["cache"]) == (
        "POST",
        OVERVIEW,
        200,
        "MISS",
    )
    assert line["duration_ms"] > 0
    upstream = [r for r in mine if r.get("upstream")]
    assert upstream and len(upstream) == line["upstream_requests"]
    assert all(r["outcome"] == "ok" for r in upstream)
    assert [r for r in records if r.get("request_id") == generated and r.get("status") == 200]
    rejected = [r for r in records if r.get("route") == OVERVIEW and r.get("status") == 400]
    assert len(rejected) == 1  # a 4xx is logged too
    assert SIM_KEY not in json_logs.out.getvalue()


async def test_access_lines_gather_on_the_loop_and_are_written_within_the_flush_time(
    json_logs: JsonLogs,
) -> None:
    """Access lines are handed to the writer together, by a timer: nobody has to stop it."""
    for n in range(3):
        logs.access_line(f"GET /x 200 - {n}", {"n": n})
    assert json_logs.out.getvalue() == ""  # gathering: the thread was not woken per line
    for _ in range(250):  # the timer, then the writer thread: well within 5 s
        await asyncio.sleep(logs.ACCESS_FLUSH_SECONDS)
        if json_logs.out.getvalue().count("\n") == 3:
            break
    lines = [orjson.loads(line) for line in json_logs.out.getvalue().splitlines()]
    assert [line["n"] for line in lines] == [0, 1, 2]
    assert all(line["logger"] == "service.access" for line in lines)


def test_requests_count_each_hit_once_in_its_cell_and_sum_them_by_route_and_cache() -> None:
    from service.metrics import Requests

    requests = Requests()
    for method, status, seconds in (
        ("POST", 200, 0.0002),
        ("POST", 200, 0.003),
        ("POST", 400, 0.0004),
        ("BREW", 405, 0.0001),  # a made-up method is one label, "other"
        ("COFFEE", 405, 0.0001),
    ):
        requests.observe(OVERVIEW, method, status, "", seconds)
    families = {f.name: f for f in requests.collect()}
    counts = {
        (s.labels["method"], s.labels["status"]): s.value
        for s in families["vfac_http_requests"].samples
    }
    assert counts == {("POST", "200"): 2, ("POST", "400"): 1, ("other", "405"): 2}
    latency = {
        (s.name, s.labels.get("le")): s.value
        for s in families["vfac_http_request_duration_seconds"].samples
    }
    assert latency[("vfac_http_request_duration_seconds_bucket", "0.0005")] == 4
    assert latency[("vfac_http_request_duration_seconds_bucket", "0.005")] == 5
    assert latency[("vfac_http_request_duration_seconds_count", None)] == 5
    assert abs(latency[("vfac_http_request_duration_seconds_sum", None)] - 0.0038) < 1e-9
