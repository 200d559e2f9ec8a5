"""What the export tests share: asking for an export, and for the answers it is built from,
as a careful client does (a long range may answer 503 + Retry-After while it is fetched)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import body


async def following_retry_after(client: Any, path: str, payload: dict[str, Any]) -> Any:
    while True:
        resp = await client.post(path, json=payload)
        if resp.status != 503 or "Retry-After" not in resp.headers:
            return resp
        await asyncio.sleep(float(resp.headers["Retry-After"]))


async def export(client: Any, **fields: Any) -> Any:
    fields.setdefault("format", "pdf")
    return await following_retry_after(client, "/api/export", body(**fields))


async def answer(client: Any, kind: str, **fields: Any) -> dict[str, Any]:
    resp = await following_retry_after(client, f"/api/analytics/{kind}", body(**fields))
    assert resp.status == 200
    data: dict[str, Any] = await resp.json()
    return data
