"""The Next.js example (examples/nextjs): it builds; its route handler proxies to the service
with the token kept on the server and the cache headers passed through (a 304 included); and
its page shows the overview in headless Chromium, saved as docs/nextjs-example.png."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.browser import DevTools, chromium
from tests.frontend.npm import CLIENT, EXAMPLE, Server, npm_ci, run
from tests.processes import ROOT, Process, start_service
from tests.redis_server import free_port

TOKEN = "nextjs-example-token-0123456789"
SCREENSHOT = ROOT / "docs" / "nextjs-example.png"
QUERY = {
    "project_id": "62912f08e83f76001b218690",
    "start": "2025-01-01",
    "end": "2025-01-31",
    "tz": "Europe/Helsinki",
}
SCREEN = {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}


@pytest.fixture(scope="module")
def built() -> None:
    """Both packages installed from their locks, and `next build` run (it type-checks the app
    and the client it imports against React Query's types)."""
    npm_ci(CLIENT)  # the example links the client's source, which imports its own packages
    npm_ci(EXAMPLE)
    run(["node", "node_modules/next/dist/bin/next", "build"], EXAMPLE, 600)


@pytest.fixture(scope="module")
def service() -> Iterator[Process]:
    """The service in demo mode, with an API token: the example must add it, server-side."""
    proc = start_service({"API_TOKEN": TOKEN, "UPSTREAM_RATE_PER_SECOND": "50"})
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def example(built: None, service: Process) -> Iterator[Server]:
    port = free_port()
    env = {"ANALYTICS_URL": service.url, "ANALYTICS_TOKEN": TOKEN}
    args = ["node", "node_modules/next/dist/bin/next", "start", "-p", str(port), "-H", "127.0.0.1"]
    server = Server(args, EXAMPLE, env, port)
    try:
        server.wait_ready("/api/analytics/overview?" + urlencode(QUERY))
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(900)
async def test_the_proxy_adds_the_token_and_keeps_the_cache_headers(
    example: Server, service: Process
) -> None:
    """Without a token the service refuses; through the example's route handler the answer
    comes with the service's private cache headers, and a conditional GET is a 304."""
    path = "/api/analytics/overview?" + urlencode(QUERY)
    async with aiohttp.ClientSession() as session:
        async with session.get(service.url + path) as direct:
            assert direct.status == 401
        async with session.get(example.url + path) as first:
            assert first.status == 200, await first.text()
            assert (await first.json())["meta"]["source"] == "demo"
            etag = first.headers["ETag"]
            assert first.headers["Cache-Control"].startswith("private, max-age=300, ")
            # Next adds a Vary of its own (its router's headers), as a second field line.
            assert "Authorization, Accept-Encoding" in first.headers.getall("Vary")
            assert "Age" in first.headers and "X-Cache" in first.headers
        async with session.get(example.url + path, headers={"If-None-Match": etag}) as again:
            assert again.status == 304
            assert await again.read() == b""
            assert again.headers["ETag"] == etag
        async with session.get(example.url + path.replace("overview", "nope")) as unknown:
            assert unknown.status == 404


@pytest.mark.timeout(900)
async def test_no_page_or_script_holds_the_token(example: Server) -> None:
    """The HTML and every script it loads are free of ANALYTICS_TOKEN."""
    async with aiohttp.ClientSession() as session:
        async with session.get(example.url + "/") as page:
            html = await page.text()
        assert TOKEN not in html
        scripts = re.findall(r'src="(/_next/[^"]+\.js)"', html)
        assert scripts
        for src in scripts:
            async with session.get(example.url + src) as script:
                assert script.status == 200
                assert TOKEN not in await script.text(), src


def wire_statuses(tab: DevTools, path: str) -> list[int]:
    """The statuses the browser got on the wire for requests to `path`, in order (a 304 the
    browser's cache turned into a 200 for the page is a 304 here)."""
    ids = [
        e["params"]["requestId"]
        for e in tab.events
        if e["method"] == "Network.requestWillBeSent" and path in e["params"]["request"]["url"]
    ]
    wire = {
        e["params"]["requestId"]: e["params"]["statusCode"]
        for e in tab.events
        if e["method"] == "Network.responseReceivedExtraInfo"
    }
    return [wire[i] for i in ids if i in wire]


async def _until_ready(tab: DevTools) -> str:
    """The panel's state once it is no longer loading."""
    state = "loading"
    async with asyncio.timeout(30):
        while state == "loading":
            await asyncio.sleep(0.2)
            state = await tab.evaluate(
                "document.querySelector('[data-state]')?.dataset.state ?? 'loading'"
            )
    return str(state)


@pytest.mark.timeout(900)
async def test_the_page_shows_the_overview_in_chromium(example: Server) -> None:
    """The page loads the overview through React Query with no console error, exception or
    failed load, reads well at 1280 px (saved as docs/nextjs-example.png), and a browser's
    revalidation of the answer (fetch with cache: "no-cache") is answered 304."""
    async with chromium() as tab:
        for domain in ("Runtime", "Log", "Page", "Network"):
            await tab.send(f"{domain}.enable")
        await tab.send("Emulation.setDeviceMetricsOverride", **SCREEN)
        await tab.send("Page.navigate", url=f"{example.url}/?{urlencode(QUERY)}")
        await tab.until("Page.loadEventFired")
        assert await _until_ready(tab) == "ready", await tab.evaluate("document.body.innerText")
        text = await tab.evaluate("document.body.innerText")
        width = await tab.evaluate("document.documentElement.scrollWidth")
        height = await tab.evaluate("Math.ceil(document.querySelector('main').offsetHeight)")
        await tab.send("Emulation.setDeviceMetricsOverride", **{**SCREEN, "height": height})
        shot = await tab.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        revalidate = f"fetch('/api/analytics/overview?{urlencode(QUERY)}', {{cache: 'no-cache'}})"
        reply = await tab.send(
            "Runtime.evaluate",
            expression=f"{revalidate}.then(r => r.status)",
            awaitPromise=True,
            returnByValue=True,
        )
        revalidated = reply["result"]["value"]
        await asyncio.sleep(0.3)  # the 304's Network event
        statuses = wire_statuses(tab, "/api/analytics/overview")
        assert tab.problems() == []
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    for expected in ("Interactions per day", "Top intents", "Credits by model", "31 days", "demo"):
        assert expected in text, expected
    assert re.search(r"fresh for another \d+ s", text), text
    assert width <= 1280
    assert revalidated == 200  # fetch() is given the cached answer, revalidated...
    assert statuses == [200, 304], statuses  # ...by a 304 on the wire
