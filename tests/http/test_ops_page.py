"""`GET /ops`: who may open it, that it escapes what it shows, and that a real browser renders
it cleanly (headless Chromium over the DevTools protocol; the screenshot is docs/ops.png)."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from service.http.appkeys import CORE
from service.http.ops_history import Sample, between
from tests.browser import chromium
from tests.conftest import PROJECT, body
from tests.processes import ROOT, Process, start_service
from tests.redis_server import free_port
from warmer.state import write_status

TOKEN = "ops-s3cret-token-0123456789"
REALM = 'Basic realm="vf-analytics-cache ops"'
SCREENSHOT = ROOT / "docs" / "ops.png"
JAN, FEB, MAR = ("01-01", "01-31"), ("02-01", "02-14"), ("03-01", "03-07")  # of 2025
ROUNDS = ([JAN, FEB], [JAN, JAN, JAN, MAR, JAN], [JAN, FEB, MAR, JAN, FEB, JAN, JAN])  # cold, hits
SCREEN = {"width": 1280, "deviceScaleFactor": 1, "mobile": False}  # a laptop's, about 1280x1000
SECTIONS = ("Warmer jobs", "Budget and traffic", "Top answers", "Next warmer run (plan)")


def basic(password: str, user: str = "ops") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_ops_needs_admin_token_as_basic_password_or_bearer(make_client: Any) -> None:
    """401 with a Basic challenge without the token or with a wrong one; 200 with either."""
    client = await make_client(ADMIN_TOKEN=TOKEN, API_TOKEN="api-token-0123456789")
    for headers in (
        {},
        basic("wrong"),
        {"Authorization": "Basic !not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(TOKEN.encode()).decode()},  # no colon
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer api-token-0123456789"},  # API_TOKEN is not enough
        {"Authorization": TOKEN},
    ):
        resp = await client.get("/ops", headers=headers)
        assert resp.status == 401, headers
        assert resp.headers["WWW-Authenticate"] == REALM
        assert resp.content_type == "text/html"
        assert TOKEN not in await resp.text()
    for headers in (basic(TOKEN), basic(TOKEN, user=""), {"Authorization": f"Bearer {TOKEN}"}):
        resp = await client.get("/ops", headers=headers)
        assert resp.status == 200, headers
        assert resp.content_type == "text/html"
        assert resp.headers["Cache-Control"] == "no-store"
        page = await resp.text()
        assert all(section in page for section in SECTIONS)
        assert TOKEN not in page


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_ops_is_off_without_admin_token(make_client: Any) -> None:
    """No ADMIN_TOKEN: 403 saying to set it, whatever is sent."""
    client = await make_client(API_TOKEN="api-token-0123456789")
    for headers in ({}, basic("anything"), {"Authorization": "Bearer api-token-0123456789"}):
        resp = await client.get("/ops", headers=headers)
        assert resp.status == 403
        assert "Set ADMIN_TOKEN" in await resp.text()


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_ops_escapes_what_it_shows(make_client: Any) -> None:
    """Text from the store (a warmer's report) is escaped, never markup."""
    client = await make_client(ADMIN_TOKEN=TOKEN)
    core = client.app[CORE]
    evil = "<script>alert(1)</script>"
    report = {"job": "refresh", "started": time.time() - 5, "finished": time.time() - 4}
    report |= dict.fromkeys(("candidates", "refreshed", "fresh", "upstream", "allowance"), 1)
    report |= {"failed": 1, "errors": [f"x: {evil}"], "stopped_early": evil}
    job = {"id": "refresh", "name": evil, "trigger": evil, "next_run": time.time() + 30}
    status = {"schedule": [job], "last_runs": {"refresh": report}, "leader": {"id": evil}}
    await write_status(core.store, core.keys, status)
    page = await (await client.get("/ops", headers=basic(TOKEN))).text()
    assert "<script>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4


def test_intervals_count_stale_as_served_from_the_cache() -> None:
    """Hit ratio per interval: (HIT + STALE) / cache outcomes; rates are per second."""
    a = Sample(100.0, api=10, hit=5, stale=0, miss=5, user=3, background=1, limited=0, tokens=5)
    b = Sample(110.0, api=30, hit=20, stale=5, miss=5, user=3, background=11, limited=1, tokens=1)
    step = between(a, b)
    assert (step.api, step.hit_ratio, step.user, step.background) == (2.0, 1.0, 0.0, 1.0)
    assert between(a, a).hit_ratio is None  # nothing asked: no ratio, not 0%


# --- a real browser (tests/browser.py drives it) ----------------------------------------------


async def ask(session: aiohttp.ClientSession, url: str, start: str, end: str) -> None:
    payload = body(start=f"2025-{start}", end=f"2025-{end}", tz="Europe/Helsinki")
    async with session.post(f"{url}/api/analytics/overview", json=payload) as resp:
        assert resp.status == 200, await resp.text()


async def warmer_reported(session: aiohttp.ClientSession, url: str) -> bool:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with session.get(f"{url}/api/warmer/status", headers=headers) as resp:
        jobs = (await resp.json())["jobs"]
    return any(job["last_run"] for job in jobs)


@pytest.mark.timeout(120)
async def test_ops_page_renders_cleanly_in_chromium(redis_url: str, tmp_path: Path) -> None:
    """The page loads in Chromium with no console error, exception or failed load, shows each
    section, fits 1280 px, and is saved as docs/ops.png."""
    config = tmp_path / "warmer.toml"
    config.write_text(
        f'[refresh]\ninterval_seconds = 15\n\n[[projects]]\nid = "{PROJECT}"\n'
        'tz = "Europe/Helsinki"\npresets = ["last_7", "last_30"]\n'
    )
    env = {
        "REDIS_URL": redis_url,
        "ADMIN_TOKEN": TOKEN,
        "WARMER_CONFIG": str(config),
        "UPSTREAM_RATE_PER_SECOND": "20",
        "UPSTREAM_BURST": "10",
    }  # demo mode: no VOICEFLOW_API_KEY, the bundled simulator
    web = start_service(env)
    warmer = Process("warmer", [], env, free_port())
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            for n, round_ in enumerate(ROUNDS):
                if n:
                    await asyncio.sleep(10)  # a sampler interval each: bars to draw
                for start, end in round_:
                    await ask(session, web.url, start, end)
            deadline = time.monotonic() + 30
            while not await warmer_reported(session, web.url):
                assert time.monotonic() < deadline, warmer.log.read_text()[-3000:]
                await asyncio.sleep(0.5)
        async with chromium() as tab:
            for domain in ("Runtime", "Log", "Page", "Network"):
                await tab.send(f"{domain}.enable")
            await tab.send("Network.setExtraHTTPHeaders", headers=basic(TOKEN))
            await tab.send("Emulation.setDeviceMetricsOverride", height=1000, **SCREEN)
            await tab.send("Page.navigate", url=f"{web.url}/ops")
            await tab.until("Page.loadEventFired")
            text = await tab.evaluate("document.body.innerText")
            source = await tab.evaluate("document.documentElement.outerHTML")
            width = await tab.evaluate("document.documentElement.scrollWidth")
            height = max(1000, await tab.evaluate("document.documentElement.scrollHeight"))
            await tab.send("Emulation.setDeviceMetricsOverride", height=height, **SCREEN)
            shot = await tab.send(
                "Page.captureScreenshot", format="png", captureBeyondViewport=True
            )
            assert tab.problems() == []
    finally:
        web.stop()
        warmer.stop()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    for expected in (*SECTIONS, "refresh-ahead", "presets", PROJECT, "this process only"):
        assert expected in text, expected
    assert "upstream requests of" in text  # a job's last report
    assert TOKEN not in source
    assert width <= 1280  # nothing overflows sideways
