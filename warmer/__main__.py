"""`python -m warmer` runs the warmer; `plan` prints what it would do; `--check` is for
monitoring (exit 0 when a warmer heartbeat is recent, 1 otherwise)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime

from service import logs
from service.config.settings import Settings, SettingsError
from service.core import open_core
from warmer.jobs import plan
from warmer.observe import serving_metrics
from warmer.scheduler import Warmer
from warmer.state import heartbeat


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with (
        open_core(settings) as core,
        serving_metrics(core, settings.host, settings.warmer_metrics_port),
        Warmer(core).running(),
    ):
        await stop.wait()
    logging.getLogger("warmer").info("stopped")


NO_REDIS = (
    "no shared store (REDIS_URL, DATABASE_URL): the warmer runs inside the web process, and "
    "its cache and popularity live in that process's store, out of reach from here"
)


async def print_plan(settings: Settings) -> int:
    if not settings.shared_store:
        print(f"{NO_REDIS}; see the web process's GET /api/warmer/status")
        return 1
    async with open_core(settings) as core:
        cfg = settings.warmer
        decisions = await plan(core, cfg.interval)
        print(
            f"next refresh-ahead run: top {cfg.top_k} by popularity (half-life "
            f"{cfg.half_life:.0f} s); refresh what goes stale within {cfg.interval:.0f} s + "
            f"{cfg.margin:.0f} s margin; at most {cfg.budget_share:.0%} of "
            f"{settings.upstream_rate:g} req/s = "
            f"{cfg.budget_share * settings.upstream_rate * cfg.interval:.0f} upstream requests"
        )
        print(f"{'action':8} {'score':>8} {'stale in':>9} {'est. req':>8}  answer")
        for d in decisions:
            score = "preset" if d.candidate.score is None else f"{d.candidate.score:8.2f}"
            stale = "missing" if d.stale_in is None else f"{d.stale_in:8.0f}s"
            est = "" if d.estimate is None else f">= {d.estimate}"
            print(f"{d.action:8} {score:>8} {stale:>9} {est:>8}  {d.candidate.label}")
        refresh = [d for d in decisions if d.action == "refresh"]
        print(
            f"{len(refresh)} to refresh, >= {sum(d.estimate or 0 for d in refresh)} upstream "
            f"requests; {len(decisions) - len(refresh)} fresh or already being refreshed"
        )
    return 0


async def check(settings: Settings) -> int:
    if not settings.shared_store:
        print(f"{NO_REDIS}; see the web process's GET /health/ready")
        return 1
    async with open_core(settings) as core:
        beat = await heartbeat(core.store, core.keys)
    limit = settings.warmer.heartbeat_ttl
    if beat is None:
        print(f"no warmer heartbeat in the last {limit:.0f} s")
        return 1
    age = time.time() - beat["at"]
    when = datetime.fromtimestamp(beat["at"], UTC).isoformat(timespec="seconds")
    print(f"warmer {beat['id']} beat {age:.1f} s ago ({when}); leader: {beat['leader']}")
    return 0 if age <= limit else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m warmer", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["run", "plan"], default="run")
    parser.add_argument(
        "--check", action="store_true", help="exit 0 when a warmer heartbeat is recent, 1 otherwise"
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"warmer: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level if args.command == "run" else "WARNING", settings.log_format)
    if args.check:
        return asyncio.run(check(settings))
    if args.command == "plan":
        return asyncio.run(print_plan(settings))
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
