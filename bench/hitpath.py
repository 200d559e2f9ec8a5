"""Cached-overview throughput and latency: this service vs the seed guide's stack vs a ceiling.

One process each, one run, one machine, wrk with 32 connections asking for the same cached
30-day overview (`Accept-Encoding: gzip`, as a Next.js server-side fetch sends):
- ours: `python -m service` on Redis (demo data), metrics on (the default), LOG_LEVEL=WARNING;
- ours, metrics off: the same with METRICS_ENABLED=false (what counting costs a hit);
- ours, access log: the same with LOG_LEVEL=INFO, one JSON access line per request to a file;
- with HITPATH_REF=<git ref> set, ours as of that ref too (a worktree of it, same settings as
  "ours"), to measure what a change cost the hit path;
- baseline: Flask + redis-py + json (`bench/baseline_web.py`) under gunicorn (1 worker,
  4 threads);
- ceiling: a bare aiohttp handler answering a constant body of our answer's size.

Every process gets the same PYTHONHASHSEED (0 unless set): with a random seed per process,
dict layouts differ, and so, by a few percent, do identical processes' hit rates, which
would blur a comparison of a few percent (metrics on/off, ours against a ref).
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import wrk
from bench.cpu import cpu_seconds
from bench.env import PROJECT
from tests.processes import Process
from tests.redis_server import RedisServer, free_port

BODY = {"project_id": PROJECT, "start": "2025-01-01", "end": "2025-01-30", "tz": "UTC"}
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
REF = os.environ.get("HITPATH_REF")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def post(url: str, gz: bool = True) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if gz:
        headers["Accept-Encoding"] = "gzip"
    req = urllib.request.Request(
        f"{url}/api/analytics/overview", data=json.dumps(BODY).encode(), headers=headers
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read(), dict(resp.headers)


def start(module: str, args: list[str], env: dict[str, str], port: int) -> Process:
    proc = Process(module, args, env, port)
    proc.wait_ready(
        "/health" if module == "service" else "/nope", timeout=30
    ) if module == "service" else _wait_port(proc)
    return proc


def _wait_port(proc: Process) -> None:
    import socket
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", proc.port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.log}: {proc.log.read_text()[-2000:]}")


def _remove_worktree(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False)


def measure(name: str, url: str, pid: int | None) -> tuple[wrk.Load, float | None]:
    """One round of wrk on `url`; with the server's `pid` (one process), also the CPU it
    used per request meanwhile, in µs: a cost that does not depend on how the two cores
    were shared with wrk."""
    wrk.run(
        f"{url}/api/analytics/overview", BODY, seconds=2, headers={"Accept-Encoding": "gzip"}
    )  # warm-up
    before = cpu_seconds(pid) if pid is not None else 0.0
    load = wrk.run(
        f"{url}/api/analytics/overview", BODY, seconds=SECONDS, headers={"Accept-Encoding": "gzip"}
    )
    cpu = None
    if pid is not None and load.rps > 0:
        cpu = (cpu_seconds(pid) - before) / (load.rps * SECONDS) * 1e6
    print(
        f"  {name:10} {load.rps:9.0f} req/s  p50 {load.p50_ms:6.2f} ms  "
        f"p99 {load.p99_ms:6.2f} ms  errors {load.errors}"
        + (f"  CPU {cpu:5.1f} us/request" if cpu is not None else ""),
        flush=True,
    )
    return load, cpu


@dataclass(frozen=True)
class Figures:
    load: wrk.Load  # the median round's
    cpu_us: float | None  # the median CPU per request over the rounds (one process only)


def _figures(runs: list[tuple[wrk.Load, float | None]]) -> Figures:
    cpus = [c for _, c in runs if c is not None]
    return Figures(
        sorted((load for load, _ in runs), key=lambda x: x.rps)[len(runs) // 2],
        statistics.median(cpus) if cpus else None,
    )


def run() -> dict[str, Figures]:
    seed = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = seed or "0"  # the processes started inherit it
    procs: list[Process] = []
    cleanups: list[Callable[[], None]] = []
    redis = RedisServer().start()
    try:

        def service_env(port: int, **extra: str) -> dict[str, str]:
            """One web process (its pid is the one whose CPU is read) on the shared Redis;
            at LOG_LEVEL=WARNING unless `extra` says otherwise."""
            env = {"PORT": str(port), "HOST": "127.0.0.1", "REDIS_URL": redis.url}
            return env | {"LOG_LEVEL": "WARNING", "WEB_CONCURRENCY": "1"} | extra

        ours_port = free_port()
        ours = start("service", [], service_env(ours_port), ours_port)
        procs.append(ours)
        variants = {}
        for name, extra in (
            ("no metrics", {"METRICS_ENABLED": "false"}),
            ("access log", {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}),
        ):
            port = free_port()
            variants[name] = start("service", [], service_env(port, **extra), port)
            procs.append(variants[name])
        if REF:
            tree = Path(tempfile.mkdtemp(prefix="vfac-hitpath-ref-"))
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), REF], check=True)
            cleanups.append(lambda: _remove_worktree(tree))
            port = free_port()
            variants[f"ref {REF}"] = Process("service", [], service_env(port), port, tree)
            variants[f"ref {REF}"].wait_ready("/health", timeout=30)
            procs.append(variants[f"ref {REF}"])
        body, headers = post(ours.url)
        body, headers = post(ours.url)
        assert headers["X-Cache"] == "HIT", headers
        size = len(body)
        print(f"answer: {len(gzip.decompress(body))} B of JSON, {size} B gzipped on the wire")

        base_port = free_port()
        base = start(
            "gunicorn",
            [
                "-w",
                "1",
                "-k",
                "gthread",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{base_port}",
                "bench.baseline_web:app",
            ],
            {"REDIS_URL": redis.url, "ORIGIN_URL": ours.url},
            base_port,
        )
        procs.append(base)
        post(base.url, gz=False)

        with tempfile.NamedTemporaryFile(suffix=".gz", delete=False) as f:
            f.write(body)
        ceil_port = free_port()
        ceiling = start(
            "bench.ceiling",
            ["--port", str(ceil_port), "--body-file", f.name, "--gzip"],
            {},
            ceil_port,
        )
        procs.append(ceiling)

        print(f"wrk, 1 thread, 32 connections, {SECONDS} s each, {ROUNDS} interleaved rounds:")
        servers = {"ceiling": ceiling, "ours": ours, "baseline": base, **variants}
        rounds: dict[str, list[tuple[wrk.Load, float | None]]] = {name: [] for name in servers}
        for _ in range(ROUNDS):  # interleaved, so a noisy spell hits every system alike
            for name, server in servers.items():
                # gunicorn's worker is a child of the pid we know: no CPU figure for it.
                pid = None if name == "baseline" else server.proc.pid
                rounds[name].append(measure(name, server.url, pid))
        os.unlink(f.name)
        # The round with the median throughput stands for each system, and the median of
        # its rounds' CPU per request.
        return {name: _figures(runs) for name, runs in rounds.items()}
    finally:
        for p in procs:
            p.stop()
        for cleanup in cleanups:
            cleanup()
        redis.close()
        if seed is None:  # the benchmarks that run after this one pick their own
            del os.environ["PYTHONHASHSEED"]


def main() -> None:
    figures = run()
    r = {name: f.load for name, f in figures.items()}
    ours, base, ceiling = r["ours"], r["baseline"], r["ceiling"]
    print(
        "median rounds: "
        + ", ".join(f"{n} {load.rps:.0f} req/s (p99 {load.p99_ms:.2f} ms)" for n, load in r.items())
    )
    print(
        "median CPU per request: "
        + ", ".join(f"{n} {f.cpu_us:.1f} us" for n, f in figures.items() if f.cpu_us is not None)
    )
    print(
        f"ours / baseline: {ours.rps / base.rps:.1f}x (target >= 5x); "
        f"ours / ceiling: {ours.rps / ceiling.rps:.2f}x (target >= 0.6x); "
        f"ours p99 {ours.p99_ms:.2f} ms (target < 10 ms)"
    )
    if REF:
        then = r[f"ref {REF}"]
        print(
            f"ours / ours as of {REF}: {ours.rps / then.rps:.3f} (target >= 0.95: the hit"
            " path within 5% of what it was before request ids, access lines and metrics)"
        )
    off, logged = r["no metrics"], r["access log"]
    cost = 1 - ours.rps / off.rps
    print(
        f"metrics on / off: {ours.rps / off.rps:.3f} (cost {cost:.1%} of a hit's throughput);"
        f" with an access line per request (LOG_LEVEL=INFO, JSON):"
        f" {logged.rps / off.rps:.3f} of metrics off"
    )
    on_cpu, off_cpu = figures["ours"].cpu_us, figures["no metrics"].cpu_us
    if on_cpu is not None and off_cpu is not None:
        print(
            f"by CPU per request: metrics cost {on_cpu / off_cpu - 1:.1%}"
            f" ({on_cpu:.1f} us on, {off_cpu:.1f} us off)"
            + (
                f"; ours against {REF}: {on_cpu / ref_cpu - 1:+.1%} CPU per request"
                if REF and (ref_cpu := figures[f"ref {REF}"].cpu_us)
                else ""
            )
        )


if __name__ == "__main__":
    main()
