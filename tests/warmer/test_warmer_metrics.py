"""The warmer process serves its own `GET /metrics` on WARMER_METRICS_PORT."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.processes import Process
from tests.redis_server import free_port


def test_the_warmer_serves_its_runs_and_the_fleet_on_its_metrics_port(redis_url: str) -> None:
    port = free_port()
    env = {"REDIS_URL": redis_url, "WARMER_INTERVAL_SECONDS": "1", "LOG_LEVEL": "INFO"}
    warmer = Process("warmer", [], env, port)  # demo data: the bundled simulator
    try:
        deadline, runs, samples = time.monotonic() + 20, 0.0, {}
        while time.monotonic() < deadline and runs < 2:
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            runs = sum(v for (n, _), v in samples.items() if n == "vfac_warmer_runs_total")
        assert runs >= 2, warmer.log.read_text()[-2000:]
        age = samples[("vfac_warmer_heartbeat_age_seconds", ())]
        assert 0 <= age < 5  # its own heartbeat, read from the store
        assert ("vfac_budget_tokens", ()) in samples
    finally:
        warmer.stop()
