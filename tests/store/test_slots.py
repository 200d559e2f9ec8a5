"""Redis Cluster runs a script only when all its keys hash to one slot: every Script call the
service and its warmer make, recorded as the code makes it, keeps its keys in one slot.

test_scripts.py drives each script's owner by hand; here the whole service runs — overview,
compare, an export, a 429, a metrics scrape, readiness's key check, an invalidation, and the
embedded warmer's leader, presets and refresh — over a store that records every `run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from service.store.memory import MemoryStore
from service.store.script import Script, ScriptArg
from tests.conftest import PROJECT, Factory, Sim, body
from tests.store.test_scripts import every_script

ADMIN = "admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Script, list[str]]]:
    """Every Script run on an in-process store from now on, with its keys."""
    seen: list[tuple[Script, list[str]]] = []
    run = MemoryStore.run

    async def recording(
        self: MemoryStore, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        seen.append((script, list(keys)))
        return await run(self, script, keys, args)

    monkeypatch.setattr(MemoryStore, "run", recording)
    return seen


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_every_script_call_of_the_running_service_stays_in_one_slot(
    make_client: Factory, sim: Sim, calls: list[tuple[Script, list[str]]], tmp_path: Path
) -> None:
    """Each call's keys share one hash slot, and every Script of the code is among them."""
    config = tmp_path / "warmer.toml"
    config.write_text(f'[[projects]]\nid = "{PROJECT}"\ntz = "Europe/Helsinki"\n')
    client = await make_client(
        ADMIN_TOKEN=ADMIN,
        WARMER_EMBEDDED="true",
        WARMER_CONFIG=str(config),
        WARMER_INTERVAL_SECONDS="1",
        UPSTREAM_KEY_CHECK_SECONDS="0.5",
        UPSTREAM_RATE_MAX_PER_SECOND="20000",  # the learned rate's script runs too
    )
    today = datetime.now(UTC).date()
    recent = body(start=(today - timedelta(days=9)).isoformat(), end=today.isoformat())
    for path, asked in (("analytics/overview", recent), ("analytics/compare", body())):
        assert (await client.post(f"/api/{path}", json=asked)).status == 200
    assert (await client.post("/api/export", json={**body(), "format": "csv"})).status == 200
    assert (await client.get("/metrics")).status == 200
    for _ in range(100):  # the warmer's presets and readiness's key check, both in the store
        status = await (await client.get("/api/warmer/status", headers=AUTH)).json()
        ready = await (await client.get("/health/ready")).json()
        runs = [job["last_run"] for job in status["jobs"]]
        if all(runs) and ready["checks"]["upstream"]["status"] == "ok":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the warmer or the key check did not run: {status}, {ready}")
    sim.state.fail_next(1, 429)  # the fleet's pause
    cold = body(start="2024-03-01", end="2024-03-03")
    assert (await client.post("/api/analytics/overview", json=cold)).status in (200, 503)
    invalidate = {"project_id": PROJECT, "start": "2025-01-10", "end": "2025-01-12"}
    assert (await client.post("/api/admin/invalidate", json=invalidate, headers=AUTH)).status == 200

    spread = [
        (script.name, keys)
        for script, keys in calls
        if len({key_slot(k.encode()) for k in keys}) > 1
    ]
    assert not spread, spread[:5]
    missing = {s.name for s in every_script()} - {script.name for script, _ in calls}
    assert not missing, f"no path here runs {missing}: add one, so its keys are checked"
