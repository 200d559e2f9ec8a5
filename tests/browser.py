"""A real browser for the tests: headless Chromium driven over the DevTools protocol, for
pages the service and the Next.js example render."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.redis_server import free_port


class DevTools:
    """A minimal Chrome DevTools protocol client over one page target's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._ids = iter(range(1, 1_000_000))
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self._waiting[ident] = asyncio.get_running_loop().create_future()
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        reply = await asyncio.wait_for(self._waiting[ident], 20)
        assert "error" not in reply, f"{method}: {reply['error']}"
        result: dict[str, Any] = reply["result"]
        return result

    async def until(self, method: str) -> dict[str, Any]:
        async with asyncio.timeout(20):
            while True:
                for event in self.events:
                    if event["method"] == method:
                        return event
                await asyncio.sleep(0.05)

    def problems(self) -> list[Any]:
        """Console errors, uncaught exceptions, failed loads."""
        out = []
        for e in self.events:
            p = e["params"]
            if (
                (e["method"] == "Runtime.consoleAPICalled" and p["type"] == "error")
                or e["method"] in ("Runtime.exceptionThrown", "Network.loadingFailed")
                or (e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error")
            ):
                out.append(p)
        return out

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply["result"]["value"]


FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


@asynccontextmanager
async def chromium() -> AsyncIterator[DevTools]:
    """Headless Chromium on a free port; fails (never skips) when it cannot start."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed; `make system-deps` installs it")
    port = free_port()
    # Chromium's helpers may still write to the profile a moment after it exits: retried below.
    with tempfile.TemporaryDirectory(
        prefix="vfac-chromium-", ignore_cleanup_errors=True
    ) as profile:
        log = Path(profile) / "stderr.log"
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                binary,
                *FLAGS,
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}/data",
                "--no-first-run",
                "about:blank",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
            )
        try:
            async with aiohttp.ClientSession() as session:
                url = await _page_target(session, port, proc, log)
                async with session.ws_connect(url, max_msg_size=0) as ws:
                    yield DevTools(ws)
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            for _ in range(50):
                with suppress(OSError):
                    await asyncio.to_thread(shutil.rmtree, f"{profile}/data")
                    break
                await asyncio.sleep(0.1)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def _page_target(
    session: aiohttp.ClientSession, port: int, proc: asyncio.subprocess.Process, log: Path
) -> str:
    """The websocket of Chromium's first page, once its DevTools endpoint answers."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            pytest.fail(f"chromium exited {proc.returncode}: {tail(log)}")
        try:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                pages = [t for t in await resp.json() if t["type"] == "page"]
            if pages:
                url: str = pages[0]["webSocketDebuggerUrl"]
                return url
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    pytest.fail(f"chromium's DevTools endpoint did not answer in 20 s: {tail(log)}")
