"""Readiness and the API key: one project's 401 is not the key's, and a fixed key recovers."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from tests.conftest import PROJECT, SIM_KEY, Sim, body, make_settings

INTERVAL = 0.5  # UPSTREAM_KEY_CHECK_SECONDS in these tests
OTHER = "0123456789abcdef01234567"  # a project of another workspace
DM_KEY = f"VF.DM.{PROJECT}.dm-secret-0123456789"


async def ready(client: Any) -> tuple[int, dict[str, Any], str]:
    resp = await client.get("/health/ready")
    return resp.status, await resp.json(), await resp.text()


async def until(client: Any, status: int, within: float) -> tuple[float, dict[str, Any], str]:
    """Probe every 50 ms until readiness answers `status`; the seconds it took."""
    started = time.monotonic()
    while True:
        code, data, text = await ready(client)
        if code == status:
            return time.monotonic() - started, data, text
        assert time.monotonic() - started < within, data
        await asyncio.sleep(0.05)


def checks(sim: Sim) -> list[dict[str, Any]]:
    """The key checks the simulator answered: every top_intents request, in order."""
    return [e for e in sim.state.stats()["log"] if e["name"] == "top_intents"]


def warmer_file(tmp_path: Path) -> str:
    path = tmp_path / "warmer.toml"
    path.write_text(f'[[projects]]\nid = "{PROJECT}"\ntz = "UTC"\n')
    return str(path)


async def test_a_project_the_key_cannot_read_leaves_readiness_ok(
    make_client: Any, sim: Sim
) -> None:
    """A workspace key refused one project (401) stays ready: the check asks of one it reads."""
    sim.state.config.foreign_projects = (OTHER,)
    client = await make_client(UPSTREAM_KEY_CHECK_SECONDS=str(INTERVAL))
    assert (await client.post("/api/analytics/overview", json=body())).status == 200
    assert (await client.post("/api/analytics/overview", json=body(OTHER))).status == 502
    before = len(sim.state.stats()["log"])
    status, data, _ = await ready(client)
    assert status == 200 and data["failing"] == []
    upstream = data["checks"]["upstream"]
    assert (upstream["status"], upstream["project"]) == ("ok", PROJECT)
    assert upstream["checked_at"] is not None
    # The 502 is sent at the first 401; the other metrics' fetches of OTHER may still run.
    since = [e for e in sim.state.stats()["log"][before:] if e["projectID"] == PROJECT]
    assert [(e["name"], e["status"]) for e in since] == [("top_intents", 200)]


async def test_a_rejected_key_fails_and_recovers_with_only_probes(
    make_client: Any, sim: Sim
) -> None:
    """Key rejected: 503 naming upstream; key fixed: 200 within an interval, probes alone."""
    client = await make_client(UPSTREAM_KEY_CHECK_SECONDS=str(INTERVAL))
    assert (await client.post("/api/analytics/overview", json=body())).status == 200
    sim.state.config.api_keys = ()  # Voiceflow no longer accepts the key
    _, data, text = await until(client, 503, within=3 * INTERVAL + 1)
    assert data["failing"] == ["upstream"] and data["checks"]["upstream"]["status"] == "fail"
    assert SIM_KEY not in text and "test-workspace-key" not in text
    before = len(sim.state.stats()["log"])

    sim.state.config.api_keys = (SIM_KEY,)  # the key is fixed
    took, data, _ = await until(client, 200, within=3 * INTERVAL + 1)
    assert took <= INTERVAL + 0.4
    assert data["checks"]["upstream"]["status"] == "ok"
    since = sim.state.stats()["log"][before:]
    assert since and all(e["name"] == "top_intents" for e in since)  # the checks, nothing else


async def test_a_dialog_manager_key_is_checked_on_its_own_project(
    make_client: Any, sim: Sim
) -> None:
    """A VF.DM key is checked against its project with no traffic at all, and never shown."""
    sim.state.config.api_keys = (DM_KEY,)
    client = await make_client(VOICEFLOW_API_KEY=DM_KEY, UPSTREAM_KEY_CHECK_SECONDS=str(INTERVAL))
    status, data, _ = await ready(client)
    assert status == 200 and data["checks"]["upstream"]["project"] == PROJECT
    sim.state.config.api_keys = ()
    _, data, text = await until(client, 503, within=3 * INTERVAL + 1)
    assert "dm-secret" not in text
    assert sim.requests(status=200) == 1 and len(sim.state.stats()["log"]) >= 2


@pytest.mark.parametrize("store_kind", ["redis"])
@pytest.mark.parametrize("fault", [503, 429])
async def test_a_voiceflow_outage_degrades_readiness_not_fails(
    make_client: Any, sim: Sim, tmp_path: Path, fault: int
) -> None:
    """5xx or 429 on the check: degraded (still 200), for the warmer's configured project."""
    client = await make_client(
        UPSTREAM_KEY_CHECK_SECONDS=str(INTERVAL),
        UPSTREAM_MAX_RETRIES="0",
        WARMER_CONFIG=warmer_file(tmp_path),
    )
    sim.state.fail_next(1000, fault)
    _, data, _ = await until(client, 200, within=1)
    for _ in range(40):  # the first probe may come before the check is done
        upstream = data["checks"]["upstream"]
        if upstream["checked_at"] is not None:
            break
        await asyncio.sleep(0.05)
        _, data, _ = await ready(client)
    assert (upstream["status"], upstream["project"]) == ("degraded", PROJECT)
    assert data["status"] == "degraded" and data["failing"] == []


async def test_no_readable_project_known_is_said_not_failed(make_client: Any, sim: Sim) -> None:
    """A workspace key, no traffic and no warmer projects: the check says so and passes."""
    sim.state.config.api_keys = ()
    client = await make_client(UPSTREAM_KEY_CHECK_SECONDS=str(INTERVAL))
    status, data, _ = await ready(client)
    assert status == 200 and "no project known" in data["checks"]["upstream"]["detail"]
    assert sim.state.stats()["requests"] == 0


async def test_two_instances_share_one_check_per_interval(
    sim: Sim, redis_env: dict[str, str], aiohttp_client: Any, tmp_path: Path
) -> None:
    """Two apps on one Redis (or cluster), both probed every 50 ms: at most one check per
    interval."""
    settings = make_settings(
        sim,
        **redis_env,
        UPSTREAM_KEY_CHECK_SECONDS=str(INTERVAL),
        WARMER_CONFIG=warmer_file(tmp_path),
    )
    apps = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    started = time.monotonic()
    while time.monotonic() - started < 4 * INTERVAL + 0.1:
        for client in apps:
            status, data, _ = await ready(client)
            assert status == 200 and data["checks"]["upstream"]["status"] == "ok"
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    times = [e["at"] for e in checks(sim)]
    assert 3 <= len(times) <= int(elapsed / INTERVAL) + 1
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= INTERVAL - 0.05, gaps
