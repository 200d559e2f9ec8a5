"""What the benchmarks run on: a real Redis, the simulator, the service, all on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from service.app import create_app
from service.config.settings import Settings
from simulator.app import SIM_STATE, SimulatorConfig, SimulatorState, create_simulator_app
from tests.redis_server import RedisServer

KEY = "VF.WS.bench-key-0123456789"
PROJECT = "62912f08e83f76001b218690"


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def simulator(**config: Any) -> AsyncIterator[tuple[str, SimulatorState]]:
    app = create_simulator_app(SimulatorConfig(api_keys=(KEY,), **config))
    async with serve(app) as url:
        yield url, app[SIM_STATE]


@asynccontextmanager
async def service(sim_url: str, redis_url: str | None, **env: str) -> AsyncIterator[str]:
    environ = {"VOICEFLOW_API_KEY": KEY, "VOICEFLOW_ANALYTICS_URL": sim_url, **env}
    if redis_url:
        environ["REDIS_URL"] = redis_url
    async with serve(create_app(Settings.from_env(environ))) as url:
        yield url


class Redis:
    """A redis-server for one benchmark run."""

    def __enter__(self) -> RedisServer:
        self.server = RedisServer().start()
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.close()
