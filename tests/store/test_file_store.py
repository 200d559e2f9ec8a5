"""What only the file store has: it outlives the process, and it is one process's."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from service.fleet.popularity import Popularity, member
from service.store.files import CacheDirInUse, FileStore
from service.store.keys import Keys
from tests.conftest import PROJECT
from tests.processes import ROOT, sim_control, start_service, start_simulator
from tests.redis_server import free_port

KEY = "VF.WS.file-store-test-key"


async def test_values_and_script_state_outlive_the_store(tmp_path: Path) -> None:
    """Closed and opened again: values, TTLs and a script's sorted set are all still there."""
    store = FileStore(str(tmp_path))
    await store.start()
    await store.set_many([("answer", b"42", 60), ("gone", b"x", 0.05)])
    popular = Popularity(store, Keys("test"), half_life=3600)
    for _ in range(3):
        popular.bump("overview", "a")
    popular.bump("overview", "b")
    await popular.flush()
    await store.close()

    await asyncio.sleep(0.1)  # "gone" expires
    again = FileStore(str(tmp_path))
    await again.start()
    try:
        assert await again.mget(["answer", "gone"]) == [b"42", None]
        (left,) = await again.expires_in(["answer"])
        assert left is not None and 55 < left <= 60
        top = await Popularity(again, Keys("test"), half_life=3600).top(5)
        assert [name for name, _ in top] == [member("overview", "a"), member("overview", "b")]
        assert await again.sweep() == 1  # the expired value, only now deleted
    finally:
        await again.close()


async def test_a_second_process_is_kept_out(tmp_path: Path) -> None:
    """The lock file names the holder; a second store on the directory is refused, and gets
    it once the first closed."""
    first = FileStore(str(tmp_path))
    await first.start()
    second = FileStore(str(tmp_path))
    with pytest.raises(CacheDirInUse, match=f"in use by another process \\(pid {os.getpid()}\\)"):
        await second.start()
    await first.close()
    await second.start()
    await second.close()


def _overview(url: str) -> tuple[int, str]:
    payload = {"project_id": PROJECT, "start": "2025-01-01", "end": "2025-01-31"}
    request = urllib.request.Request(
        f"{url}/api/analytics/overview",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.status, resp.headers["X-Cache"]


def test_a_restart_answers_what_was_fetched_with_no_upstream_request(
    tmp_path: Path,
) -> None:
    """`python -m service` with CACHE_DIR, asked for a range, stopped and started again: the
    same range costs 0 upstream requests. Meanwhile a second process on the directory is
    refused with a message naming it."""
    sim = start_simulator(KEY)
    env = {"VOICEFLOW_API_KEY": KEY, "VOICEFLOW_ANALYTICS_URL": sim.url}
    env["CACHE_DIR"] = str(tmp_path / "cache")
    try:
        service = start_service(env)
        try:
            assert _overview(service.url) == (200, "MISS")
            spent = sim_control(sim, "stats")["requests"]
            assert spent > 0
            refused = subprocess.run(
                [sys.executable, "-m", "service"],
                env={**os.environ, **env, "PORT": str(free_port()), "LOG_FORMAT": "text"},
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert refused.returncode == 2
            assert f"CACHE_DIR={env['CACHE_DIR']} is in use by another process" in refused.stderr
            assert "Traceback" not in refused.stderr
        finally:
            service.stop()
        restarted = start_service(env)
        try:
            status, cache = _overview(restarted.url)
            assert status == 200 and cache in ("HIT", "STALE")
            assert sim_control(sim, "stats")["requests"] == spent
        finally:
            restarted.stop()
    finally:
        sim.stop()
