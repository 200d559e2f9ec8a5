"""The four stores side by side, in one run: in-process memory, the file store (SQLite), Redis,
and PostgreSQL, each behind a real `python -m service` process.

- Hit path: wrk, 32 connections, the same cached 30-day overview with gzip, interleaved
  rounds (median round kept). Twice per store: as deployed (an answer read within
  CACHE_LOCAL_SECONDS is served from process memory), and with CACHE_LOCAL_SECONDS=0, so
  every hit reads the store.
- Cold 31-day overview: a fresh store, the simulator at a tight budget (10 req/s, as
  Voiceflow's default) and a generous one (no limit, the service at 200 req/s). A client asks
  for a month no one asked for, following Retry-After, until it is answered; the time and
  upstream requests it took, for COLD_MONTHS months in turn (median time, total requests).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench import wrk
from bench.dashboard_load import RATE, TIGHT
from bench.env import KEY, PROJECT
from tests.postgres_server import PostgresServer
from tests.processes import Process, sim_control, start_service, start_simulator
from tests.redis_server import RedisServer

STORES = ("memory", "file", "redis", "postgres")
SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
COLD_MONTHS = int(os.environ.get("STORES_COLD_MONTHS", "3"))
GENEROUS_RATE = 200.0
HIT = {"project_id": PROJECT, "start": "2025-01-01", "end": "2025-01-30", "tz": "UTC"}


@contextmanager
def servers() -> Iterator[dict[str, dict[str, str]]]:
    """Per store, the settings that name a fresh one; each call of `fresh(kind)` empties it."""
    with ExitStack() as stack:
        redis = RedisServer().start()
        stack.callback(redis.close)
        postgres = PostgresServer().start()
        stack.callback(postgres.close)
        files = Path(tempfile.mkdtemp(prefix="vfac-bench-stores-"))
        yield {
            "memory": {},
            "file": {"CACHE_DIR": str(files)},
            "redis": {"REDIS_URL": redis.url},
            "postgres": {"DATABASE_URL": postgres.url},
        }


def fresh(env: dict[str, str], tag: str) -> dict[str, str]:
    """The store `env` names, emptied: a new directory for the file store."""
    if "REDIS_URL" in env:
        RedisServer.flush_url(env["REDIS_URL"])
    if "DATABASE_URL" in env:
        PostgresServer.flush_url(env["DATABASE_URL"])
    if "CACHE_DIR" in env:
        return {"CACHE_DIR": tempfile.mkdtemp(prefix=f"{tag}-", dir=env["CACHE_DIR"])}
    return env


def ask(url: str, body: dict[str, str]) -> tuple[int, str, float]:
    """POST an overview once: status, X-Cache, Retry-After (0 when none)."""
    request = urllib.request.Request(
        f"{url}/api/analytics/overview",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept-Encoding": "gzip"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            resp.read()
            return resp.status, resp.headers.get("X-Cache", ""), 0.0
    except urllib.error.HTTPError as exc:
        return exc.code, "", float(exc.headers.get("Retry-After") or 1)


def hit_path(stores: dict[str, dict[str, str]]) -> dict[str, wrk.Load]:
    procs: dict[str, Process] = {}
    try:
        for kind in STORES:
            for local in ("1", "0"):
                env = fresh(stores[kind], f"hit-{local}")
                name = f"{kind}" if local == "1" else f"{kind}, reads"
                procs[name] = start_service(
                    {**env, "CACHE_LOCAL_SECONDS": local, "LOG_LEVEL": "WARNING"}
                )
                ask(procs[name].url, HIT)
                assert ask(procs[name].url, HIT)[1] == "HIT"
        print(f"hit path: wrk, 32 connections, {SECONDS} s each, {ROUNDS} interleaved rounds")
        rounds: dict[str, list[wrk.Load]] = {name: [] for name in procs}
        for _ in range(ROUNDS):
            for name, proc in procs.items():
                url = f"{proc.url}/api/analytics/overview"
                headers = {"Accept-Encoding": "gzip"}
                wrk.run(url, HIT, seconds=1, headers=headers)  # warm-up
                rounds[name].append(wrk.run(url, HIT, seconds=SECONDS, headers=headers))
        return {n: sorted(r, key=lambda x: x.rps)[len(r) // 2] for n, r in rounds.items()}
    finally:
        for proc in procs.values():
            proc.stop()


def cold(stores: dict[str, dict[str, str]], tight: bool) -> dict[str, tuple[float, int]]:
    """Per store: the median seconds a cold 31-day overview took, and upstream requests."""
    sim = start_simulator(KEY, *(TIGHT if tight else ()))
    out = {}
    try:
        for kind in STORES:
            env = {
                **fresh(stores[kind], f"cold-{tight}"),
                "VOICEFLOW_API_KEY": KEY,
                "VOICEFLOW_ANALYTICS_URL": sim.url,
                "UPSTREAM_RATE_PER_SECOND": f"{RATE if tight else GENEROUS_RATE:g}",
                "LOG_LEVEL": "WARNING",
            }
            service = start_service(env)
            before = sim_control(sim, "stats")["requests"]
            took = []
            try:
                for month in range(1, COLD_MONTHS + 1):
                    body = {**HIT, "start": f"2024-{month:02d}-01", "end": f"2024-{month:02d}-31"}
                    if month == 2:
                        body["end"] = "2024-03-02"  # 31 days all the same
                    time.sleep(1.0 if tight else 0.0)  # the bucket refills between months
                    started = time.monotonic()
                    while (answer := ask(service.url, body))[0] == 503:
                        time.sleep(answer[2])
                    assert answer[:2] == (200, "MISS"), answer
                    took.append(time.monotonic() - started)
            finally:
                service.stop()
            spent = sim_control(sim, "stats")["requests"] - before
            out[kind] = (statistics.median(took), spent)
            print(f"  {kind:9} {out[kind][0]:6.2f} s  {spent:4d} upstream requests", flush=True)
    finally:
        sim.stop()
    return out


def main() -> None:
    with servers() as stores:
        hits = hit_path(stores)
        print(f"{'store':18} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs memory':>9}")
        for name, load in hits.items():
            memory = hits["memory, reads" if name.endswith("reads") else "memory"]
            print(
                f"{name:18} {load.rps:8.0f} {load.p50_ms:7.2f} {load.p99_ms:7.2f} "
                f"{load.rps / memory.rps:9.2f}"
            )
        for tight in (True, False):
            label = f"tight ({RATE:g} req/s)" if tight else f"generous ({GENEROUS_RATE:g} req/s)"
            print(f"cold 31-day overview, {label}, median of {COLD_MONTHS} months:")
            cold(stores, tight)


if __name__ == "__main__":
    main()
