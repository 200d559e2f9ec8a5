"""The seed guide's cache, as the baseline: one key per whole range, a TTL, nothing else.

    cached = redis.get(key) → hit: json.loads; miss: fetch every metric of the range,
    redis.setex(key, ttl, json.dumps(data)).

No day partitions, no single flight, no stale serving: every concurrent miss fetches, and a
range that moves by a day is a new key. It uses our Voiceflow client, so the two differ only
in their caching.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import redis.asyncio as aioredis

from service.analytics.rows import LIST_METRICS
from service.upstream.voiceflow import VoiceflowClient


async def get_cached_or_fetch(
    r: aioredis.Redis, key: str, fetch: Callable[[], Awaitable[Any]], ttl: int = 300
) -> Any:
    cached = await r.get(key)
    if cached:
        return json.loads(cached)
    data = await fetch()
    await r.setex(key, ttl, json.dumps(data))
    return data


async def overview(
    r: aioredis.Redis, client: VoiceflowClient, project_id: str, start: date, end: date
) -> Any:
    """The baseline's overview: whole-range key, all metrics fetched on a miss."""
    first = datetime.combine(start, time(), UTC)
    last = datetime.combine(end + timedelta(days=1), time(), UTC) - timedelta(milliseconds=1)

    async def fetch() -> dict[str, Any]:
        rows = await asyncio.gather(
            *(client.rows(project_id, m, first, last) for m in LIST_METRICS)
        )
        intents = await client.top_intents(project_id, first, last)
        return {"metrics": dict(zip(LIST_METRICS, rows, strict=True)), "intents": intents}

    return await get_cached_or_fetch(r, f"overview:{project_id}:{start}:{end}", fetch)
