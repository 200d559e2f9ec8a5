"""The warmer: config, popularity, refresh-ahead and presets, status and plan, one leader."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.config.settings import Settings, SettingsError
from service.config.warmer import load_warmer_config
from service.core import Core, open_core
from service.store.keys import Keys
from service.store.memory import MemoryStore
from tests.conftest import PROJECT, Sim, admin_client, body, make_settings
from tests.http.test_http import check
from warmer import jobs
from warmer.leader import Leader

ROOT = Path(__file__).resolve().parents[2]


def readme_toml() -> str:
    """The example configuration in the README's tuning section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Tuning the warmer", 1)[1]
    found = re.search(r"```toml\n(.*?)```", section, re.S)
    assert found, "the README's tuning section has no TOML example"
    return found.group(1)


def test_readme_example_config_loads(tmp_path: Path) -> None:
    """The README's example TOML is valid and means what it says."""
    path = tmp_path / "warmer.toml"
    path.write_text(readme_toml())
    config, problems = load_warmer_config(str(path), {})
    assert problems == []
    assert config.projects and config.projects[0].tz
    assert config.top_k > 0 and 0 < config.budget_share <= 1


def test_bad_entries_are_named(tmp_path: Path) -> None:
    """Every bad entry is named with its rule; env variables override single values."""
    path = tmp_path / "warmer.toml"
    path.write_text(
        "[refresh]\ntop_k = 0\nbudget_share = 2\nspeed = 1\n"
        '[[projects]]\nid = "bad id!"\ntz = "UTC"\n'
        '[[projects]]\nid = "ok"\ntz = "Mars/Base"\n[bogus]\n'
    )
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"WARMER_CONFIG": str(path), "WARMER_INTERVAL_SECONDS": "x"})
    message = str(err.value)
    for entry in (
        "refresh.top_k",
        "refresh.budget_share",
        "refresh.speed",
        "projects[0].id",
        "projects[1].tz",
        "[bogus]",
        "WARMER_INTERVAL_SECONDS",
    ):
        assert entry in message, entry
    good = tmp_path / "good.toml"
    good.write_text("[refresh]\ntop_k = 7\n")
    settings = Settings.from_env({"WARMER_CONFIG": str(good), "WARMER_TOP_K": "9"})
    assert settings.warmer.top_k == 9


class CutOff(MemoryStore):
    """A store whose every lease call fails, as Redis does when unreachable."""

    async def renew(self, keys: Any, token: str, ttl: float) -> int:
        raise ConnectionError("down")

    async def acquire(self, keys: Any, token: str, ttl: float) -> list[float]:
        raise ConnectionError("down")


async def test_a_warmer_cut_off_from_its_store_stops_acting() -> None:
    """When the store fails, the leader stops acting at once instead of guessing."""
    leader = Leader(MemoryStore(), Keys("demo"), lease=10, heartbeat=1, heartbeat_ttl=3)
    await leader.step()
    assert leader.acting
    leader._store = CutOff()
    await leader.step()
    assert not leader.acting


@pytest.fixture
async def core(sim: Sim, redis_env: dict[str, str]) -> AsyncIterator[Core]:
    """The warmer's parts over one Redis, then over a Redis Cluster."""
    settings = make_settings(
        sim, **redis_env, CACHE_TTL_SECONDS="30", WARMER_TOP_K="10", WARMER_MARGIN_SECONDS="0"
    )
    async with open_core(settings) as opened:
        yield opened


async def ask(core: Core, query_body: dict[str, Any], times: int = 1) -> None:
    from service.analytics.query import parse_query

    query = parse_query(query_body, 366)
    for _ in range(times):
        await core.analytics.overview(query)
        core.popularity.bump("overview", query.canonical())
    await core.popularity.flush()


async def test_refresh_ahead_refreshes_what_goes_stale_most_popular_first(
    core: Core, sim: Sim
) -> None:
    """Answers that go stale before the next run are refreshed through the request path."""
    await ask(core, body(start="2025-01-01", end="2025-01-31"), times=3)
    await ask(core, body(start="2025-02-01", end="2025-02-28"), times=1)
    candidates = await jobs.popular(core, 10)
    assert [c.query.start for c in candidates] == [date(2025, 1, 1), date(2025, 2, 1)]
    # Next run in 10 s: both answers (fresh for 30 s) stay fresh past it: nothing to do.
    report = await jobs.run(
        core, "refresh", candidates, until_next=10, stop_reason=lambda: None, acted_by="t"
    )
    assert (report.refreshed, report.fresh) == (0, 2)
    before = await core.analytics.peek("overview", candidates[0].query)
    # Next run in 60 s: both would be stale by then, so both are refreshed now.
    report = await jobs.run(
        core, "refresh", candidates, until_next=60, stop_reason=lambda: None, acted_by="t"
    )
    assert report.refreshed == 2 and report.stopped_early is None
    after = await core.analytics.peek("overview", candidates[0].query)
    assert before is not None and after is not None
    assert after.generated_at > before.generated_at
    assert report.upstream == 0  # closed days and cached intents: refreshing cost nothing


async def test_refresh_stops_when_its_budget_share_is_spent(
    core: Core, sim: Sim, redis_env: dict[str, str]
) -> None:
    """A run stops early, and says so, once it spent its share of the upstream budget."""
    for month in range(1, 7):
        await ask(core, body(start=f"2024-{month:02d}-01", end=f"2024-{month:02d}-28"))
    drop_days(redis_env)
    for month in range(1, 7):  # drop the answers too, so each refresh must fetch
        q = jobs.Query(PROJECT, date(2024, month, 1), date(2024, month, 28))
        await core.store.delete(core.keys.answer("overview", q.canonical()))
    sim.state.reset()
    # share 0.3 of 10000 req/s over 0.005 s = 15 requests: enough for about one answer.
    report = await jobs.run(
        core,
        "refresh",
        await jobs.popular(core, 10),
        until_next=0.005,
        stop_reason=lambda: None,
        acted_by="t",
    )
    assert report.stopped_early and "budget share spent" in report.stopped_early
    assert 1 <= report.refreshed < 6
    assert report.upstream == sim.requests()


def drop_days(redis_env: dict[str, str]) -> None:
    """Forget every stored day, so refreshing must fetch from upstream again (a test's SCAN,
    over every master of a cluster: the service itself never lists keys)."""
    r = admin_client(redis_env)
    for key in list(r.scan_iter(match="*:day:*")):
        r.delete(key)
    r.close()


async def test_refresh_skips_answers_being_refreshed_elsewhere(core: Core) -> None:
    """An answer whose lease is held (a refresh under way) is skipped, not fetched twice."""
    await ask(core, body())
    (candidate,) = await jobs.popular(core, 10)
    lease = Keys.lease(core.keys.answer("overview", candidate.query.canonical()))
    await core.store.acquire([lease], "someone-else", 10)
    report = await jobs.run(
        core, "refresh", [candidate], until_next=3600, stop_reason=lambda: None, acted_by="t"
    )
    assert (report.running, report.refreshed) == (1, 0)


async def test_presets_are_warmed_for_configured_projects(
    sim: Sim, redis_env: dict[str, str], tmp_path: Path
) -> None:
    """Each configured project's presets, in its zone, are stored after the preset job."""
    path = tmp_path / "w.toml"
    path.write_text(
        f'[[projects]]\nid = "{PROJECT}"\ntz = "Asia/Tokyo"\n'
        'presets = ["last_7", "month_to_date"]\n'
    )
    settings = make_settings(sim, **redis_env, WARMER_CONFIG=str(path))
    async with open_core(settings) as core:
        candidates = jobs.presets(core, time.time())
        report = await jobs.run(
            core, "presets", candidates, until_next=60, stop_reason=lambda: None, acted_by="t"
        )
        assert report.refreshed == 2
        today = datetime.now(UTC).astimezone(jobs.zone("Asia/Tokyo")).date()
        for c in candidates:
            assert c.query.end == today and c.query.tz == "Asia/Tokyo"
            assert await core.analytics.peek("overview", c.query) is not None
        assert candidates[0].query.start == today - timedelta(days=6)
        assert candidates[1].query.start == today.replace(day=1)


async def test_one_leader_and_takeover_when_it_stops(redis_env: dict[str, str], sim: Sim) -> None:
    """Two warmers: exactly one acts; when it stops renewing, the other acts within the lease."""
    async with open_core(make_settings(sim, **redis_env)) as core:
        a = Leader(core.store, core.keys, lease=1.0, heartbeat=0.3, heartbeat_ttl=0.9)
        b = Leader(core.store, core.keys, lease=1.0, heartbeat=0.3, heartbeat_ttl=0.9)
        await a.step()
        await b.step()
        assert a.acting and not b.acting
        started = time.monotonic()
        while not b.acting:  # `a` died: it renews no more
            await asyncio.sleep(0.05)
            await b.step()
            assert not (a.acting and b.acting)
        assert time.monotonic() - started <= 1.0 + 0.1
        await a.step()
        assert not a.acting  # the old leader finds the lease taken and stays out


@pytest.mark.parametrize("store_kind", ["memory"])  # embedded: only with no Redis
async def test_status_and_ready_show_the_warmer(make_client: Any, tmp_path: Path) -> None:
    """With the warmer embedded, /api/warmer/status reads well and /health/ready has its age."""
    client = await make_client(WARMER_EMBEDDED="true", ADMIN_TOKEN="admin-token-0123456789")
    await client.post("/api/analytics/overview", json=body())
    for _ in range(60):
        await asyncio.sleep(0.1)
        ready = await (await client.get("/health/ready")).json()
        if ready["checks"]["warmer"]["status"] == "ok":
            break
    assert ready["checks"]["warmer"]["heartbeat_age_seconds"] is not None
    assert (await client.get("/api/warmer/status")).status == 401
    headers = {"Authorization": "Bearer admin-token-0123456789"}
    for _ in range(60):
        status = await (await client.get("/api/warmer/status", headers=headers)).json()
        if status["top"] and any(j["last_run"] for j in status["jobs"]):
            break
        await asyncio.sleep(0.1)
    check(status, "WarmerStatus")
    assert status["leader"] and status["heartbeat"]["leader"] is True
    assert status["top"][0]["project_id"] == PROJECT and status["top"][0]["state"] == "fresh"
    refresh = next(j for j in status["jobs"] if j["id"] == "refresh")
    assert refresh["next_run"] and refresh["last_run"]["acted_by"] == status["leader"]


def test_plan_and_check_read_well(sim: Sim, redis_url: str, tmp_path: Path) -> None:
    """`python -m warmer plan` lists what it would warm and why; --check fails with no warmer."""
    config = tmp_path / "warmer.toml"
    config.write_text(readme_toml())
    env = {
        "REDIS_URL": redis_url,
        "VOICEFLOW_API_KEY": "VF.WS.x",
        "VOICEFLOW_ANALYTICS_URL": sim.url,
        "PATH": "/usr/bin:/bin",
        "WARMER_CONFIG": str(config),
    }
    plan = subprocess.run(
        [sys.executable, "-m", "warmer", "plan"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plan.returncode == 0, plan.stderr
    assert "next refresh-ahead run" in plan.stdout and "stale in" in plan.stdout
    assert "last_7" in plan.stdout and "to refresh" in plan.stdout
    result = subprocess.run(
        [sys.executable, "-m", "warmer", "--check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "no warmer heartbeat" in result.stdout


async def test_a_run_may_spend_what_earlier_runs_left(core: Core) -> None:
    """Unspent allowance carries over: open days expire together, so warming comes in bursts."""
    share = core.settings.warmer.budget_share * core.settings.upstream_rate
    quiet = await jobs.run(
        core, "refresh", [], until_next=2, stop_reason=lambda: None, acted_by="t"
    )
    busy = await jobs.run(
        core, "refresh", [], until_next=2, stop_reason=lambda: None, acted_by="t", carried=7
    )
    assert quiet.allowance == share * 2 and busy.allowance == share * 2 + 7
