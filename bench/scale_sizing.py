"""Sizing figures for bench/scale.py: Redis memory per project-year, Redis cost per hit.

(a) Memory. One web process at a generous budget (simulator unlimited,
    UPSTREAM_RATE_PER_SECOND=200) on an empty Redis is asked one UTC overview of the 365 days
    ending yesterday for each of MEMORY_PROJECTS projects (every day closed). Then
    `INFO memory` used_memory against before, and every key's `MEMORY USAGE` (SCAN), summed by
    kind: day partitions, their catalogues, top_intents windows, answers, the rest. Rows
    stored are the web process's `vfac_upstream_rows` (what the simulator's data has a day).
(b) Redis per cached hit. wrk (1 thread, 32 connections, HIT_SECONDS s) asks one cached
    30-day overview (gzip) of a web process with the default CACHE_LOCAL_SECONDS (1 s: a hot
    answer skips Redis) and of one with CACHE_LOCAL_SECONDS=0 (every hit reads Redis); the web
    process's CPU (/proc) and Redis's commands (`INFO commandstats`) and CPU (`INFO cpu`) over
    the run, per request served: how many web cores' hits one Redis core can serve.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from bench import wrk
from bench.cpu import cpu_seconds
from bench.env import KEY
from bench.workload import project_id
from tests.processes import Process, start_service, start_simulator
from tests.redis_server import RedisServer

MEMORY_PROJECTS = 4
DAYS = 365
HIT_SECONDS = 6
GENEROUS = {"UPSTREAM_RATE_PER_SECOND": "200"}
KINDS = ("day partitions", "day catalogues", "top_intents", "answers", "other")
MIB = 1024 * 1024


def metric_totals(url: str, family_name: str, *labels: str) -> Counter[str]:
    """A process's counter `family_name` from its /metrics, summed by `labels` (joined)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name == family_name:
            for s in family.samples:
                if s.name.endswith("_total"):
                    out[" ".join(s.labels[label] for label in labels)] += int(s.value)
    return out


def ask(url: str, body: dict[str, str], limit: float = 120.0) -> None:
    """POST an overview, following 503s (Retry-After) until its 200."""
    deadline = time.monotonic() + limit
    data = json.dumps(body).encode()
    while time.monotonic() < deadline:
        req = urllib.request.Request(
            f"{url}/api/analytics/overview", data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
                return
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
            time.sleep(float(exc.headers.get("Retry-After") or 1))
    raise RuntimeError(f"no 200 for {body} within {limit:.0f} s")


def kind_of(key: str) -> str:
    if ":day:" in key:
        return "day partitions"
    if key.endswith("}:catalog"):
        return "day catalogues"
    if ":intents:" in key:
        return "top_intents"
    if ":ans:" in key:
        return "answers"
    return "other"


def memory(client: redis.Redis, web: Process) -> list[str]:
    before = int(client.info("memory")["used_memory"])
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=DAYS), today - timedelta(days=1)
    began = time.monotonic()
    for i in range(MEMORY_PROJECTS):
        ask(web.url, {"project_id": project_id(i), "start": str(first), "end": str(last)})
    took = time.monotonic() - began
    used = int(client.info("memory")["used_memory"]) - before
    size: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for key in client.scan_iter(count=1000):
        name = key.decode()
        size[kind_of(name)] += int(client.memory_usage(key, samples=0) or 0)
        count[kind_of(name)] += 1
    rows = metric_totals(web.url, "vfac_upstream_rows", "metric")
    list_rows = sum(n for m, n in rows.items() if m != "top_intents")
    years = MEMORY_PROJECTS * DAYS / 365
    days = size["day partitions"] + size["day catalogues"]
    metrics = len([m for m in rows if m != "top_intents"])
    return [
        f"(a) Redis memory: {MEMORY_PROJECTS} projects x a {DAYS}-day UTC overview ending"
        f" yesterday, filled in {took:.1f} s; {list_rows} rows of {metrics} list metrics stored"
        f" ({list_rows / (MEMORY_PROJECTS * DAYS):.0f} a project-day)",
        f"  used_memory delta {used / MIB:.2f} MiB; MEMORY USAGE by kind (keys):"
        + "".join(f" {k} {size[k] / MIB:.2f} MiB ({count[k]})" for k in KINDS),
        f"  day partitions + catalogues: {days / MIB / years:.2f} MiB per project-year,"
        f" {days / (MEMORY_PROJECTS * DAYS):.0f} B per project-day,"
        f" {size['day partitions'] / max(1, count['day partitions']):.0f} B per (metric, day)"
        f" key, {size['day partitions'] / max(1, list_rows):.1f} B per row;"
        f" all keys {sum(size.values()) / MIB / years:.2f} MiB per project-year"
        f" (used_memory: {used / MIB / years:.2f})",
    ]


def redis_cost(client: redis.Redis, webs: dict[str, Process]) -> list[str]:
    today = datetime.now(UTC).date()
    body = {"project_id": project_id(0), "start": str(today - timedelta(days=30))}
    body |= {"end": str(today - timedelta(days=1)), "tz": "UTC"}
    lines = [
        f"(b) Redis per cached hit: a cached 30-day overview (gzip), wrk 1 thread, 32"
        f" connections, {HIT_SECONDS} s per web process"
    ]
    for name, web in webs.items():
        ask(web.url, body)
        ask(web.url, body)
        calls, cpu, web_cpu = redis_commands(client), redis_cpu(client), cpu_seconds(web.proc.pid)
        began = time.monotonic()
        load = wrk.run(
            f"{web.url}/api/analytics/overview",
            body,
            seconds=HIT_SECONDS,
            headers={"Accept-Encoding": "gzip"},
        )
        used, done = redis_cpu(client) - cpu, redis_commands(client) - calls
        cores = (cpu_seconds(web.proc.pid) - web_cpu) / (time.monotonic() - began)
        served = load.rps * HIT_SECONDS
        top = ", ".join(f"{c} {n / served:.2f}" for c, n in done.most_common(4) if c != "info")
        per_hit = used / served * 1e6
        capacity = 1e6 / per_hit if per_hit > 0 else float("inf")
        per_core = load.rps / cores
        lines.append(
            f"  {name}: {load.rps:.0f} req/s (p99 {load.p99_ms:.2f} ms, errors {load.errors}) on"
            f" {cores:.2f} core of the web process = {per_core:.0f} req/s per web core; Redis"
            f" {done.total() / served:.2f} commands per request ({top}), CPU {per_hit:.1f} us"
            f" per request: one Redis core serves {capacity:,.0f} such hits/s = the hits of"
            f" {capacity / per_core:.1f} web cores"
        )
    return lines


def redis_commands(client: redis.Redis) -> Counter[str]:
    stats: dict[str, Any] = client.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})


def redis_cpu(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def run(server: RedisServer) -> list[str]:
    server.flush()
    sim = start_simulator(KEY)
    env = {"REDIS_URL": server.url, "VOICEFLOW_API_KEY": KEY, "VOICEFLOW_ANALYTICS_URL": sim.url}
    env |= {"LOG_LEVEL": "WARNING", "WARMER_EMBEDDED": "false", **GENEROUS}
    procs = [sim]
    client = redis.Redis.from_url(server.url)
    try:
        web = start_service(env)
        procs.append(web)
        lean = start_service({**env, "CACHE_LOCAL_SECONDS": "0"})
        procs.append(lean)
        lines = memory(client, web)
        webs = {"CACHE_LOCAL_SECONDS=1 (default)": web, "CACHE_LOCAL_SECONDS=0": lean}
        return lines + redis_cost(client, webs)
    finally:
        client.close()
        for proc in procs:
            proc.stop()
