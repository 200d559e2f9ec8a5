"""The whole-range TTL cache as a service (`python -m bench.baseline_app`), for the workload.

The seed guide's get_cached_or_fetch behind one aiohttp handler, with our Voiceflow client
(it waits out a 429's Retry-After, as a careful seed implementation would) and no budget,
no partitions, no single flight. `X-Cache: HIT` when the whole-range key was cached.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from datetime import date

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bench import baseline
from service.config.settings import Secret
from service.errors import ProblemError
from service.upstream.voiceflow import VoiceflowClient

REDIS = web.AppKey("redis", aioredis.Redis)
CLIENT = web.AppKey("client", VoiceflowClient)


def create(redis_url: str, upstream: str, key: str) -> web.Application:
    app = web.Application()

    async def overview(request: web.Request) -> web.Response:
        body = await request.json()
        r = request.app[REDIS]
        cache_key = f"overview:{body['project_id']}:{body['start']}:{body['end']}"
        hit = bool(await r.exists(cache_key))
        try:
            data = await baseline.overview(
                r,
                request.app[CLIENT],
                body["project_id"],
                date.fromisoformat(body["start"]),
                date.fromisoformat(body["end"]),
            )
        except ProblemError as exc:
            return web.json_response({"detail": exc.detail}, status=exc.status)
        return web.Response(
            body=json.dumps(data),
            content_type="application/json",
            headers={"X-Cache": "HIT" if hit else "MISS"},
        )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=64)
        app[REDIS] = aioredis.Redis(connection_pool=pool)
        session = aiohttp.ClientSession()
        app[CLIENT] = VoiceflowClient(
            session, upstream, Secret(key), timeout=15, deadline=30, max_retries=3, max_pages=1000
        )
        yield
        await session.close()
        await app[REDIS].aclose()

    app.cleanup_ctx.append(resources)
    app.router.add_post("/api/analytics/overview", overview)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    web.run_app(
        create(args.redis, args.upstream, args.key),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
