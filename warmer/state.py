"""What the warmer tells the rest of the fleet: its heartbeat and its report of each job.

Written by the acting warmer, read by `/api/warmer/status`, `/health/ready` and
`python -m warmer --check`. Plain JSON in the store.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from service.store.base import Store
from service.store.keys import Keys

STATUS_TTL = 7 * 86400.0  # a report outlives any sane schedule gap, then goes


async def heartbeat(store: Store, keys: Keys) -> dict[str, Any] | None:
    raw = await store.get(keys.warmer_heartbeat)
    return None if raw is None else dict(orjson.loads(raw))


async def heartbeat_age(store: Store, keys: Keys) -> float | None:
    """Seconds since any warmer's last heartbeat, or None when no warmer is alive."""
    beat = await heartbeat(store, keys)
    return None if beat is None else max(0.0, time.time() - float(beat["at"]))


async def read_status(store: Store, keys: Keys) -> dict[str, Any]:
    raw = await store.get(keys.warmer_status)
    return {} if raw is None else dict(orjson.loads(raw))


async def write_status(store: Store, keys: Keys, status: dict[str, Any]) -> None:
    await store.set(keys.warmer_status, orjson.dumps(status), STATUS_TTL)
