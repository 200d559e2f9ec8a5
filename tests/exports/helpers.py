"""What the export tests share: asking for an export, and for the answers it is built from."""

from __future__ import annotations

from typing import Any

from tests.conftest import body


async def export(client: Any, **fields: Any) -> Any:
    fields.setdefault("format", "pdf")
    return await client.post("/api/export", json=body(**fields))


async def answer(client: Any, kind: str, **fields: Any) -> dict[str, Any]:
    resp = await client.post(f"/api/analytics/{kind}", json=body(**fields))
    assert resp.status == 200
    data: dict[str, Any] = await resp.json()
    return data
