"""Real processes for fleet tests: the simulator and service instances on one Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


class Process:
    """A `python -m <module>` child on a free port, with its output kept for failures."""

    def __init__(
        self,
        module: str,
        args: list[str],
        env: dict[str, str],
        port: int,
        cwd: Path = ROOT,  # another checkout (a benchmark's earlier version)
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"vfac-{module}-{port}.log"
        self._out = self.log.open("wb")
        clean = {
            k: v
            for k, v in os.environ.items()
            if k
            not in {"REDIS_URL", "DATABASE_URL", "CACHE_DIR", "VOICEFLOW_API_KEY", "API_TOKEN"}
            | {"API_TOKENS", "API_TOKENS_FILE"}
        }
        if module == "warmer":  # its metrics on the port it was given, not the shared default
            env = {"WARMER_METRICS_PORT": str(port), **env}
        env = {"LOG_FORMAT": "text", **env}  # tests read the logs: the format they parse
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**clean, **env},
            cwd=cwd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.log} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"{self.url}{path} not ready: {self.log.read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s (the log is kept then)."""
        try:
            self.kill(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self._out.close()
            raise RuntimeError(
                f"{self.url} ignored SIGTERM for 10 s; log kept at {self.log}"
            ) from None
        self._out.close()
        self.log.unlink(missing_ok=True)


def start_simulator(api_key: str, *extra: str) -> Process:
    port = free_port()
    proc = Process("simulator", ["--port", str(port), "--api-key", api_key, *extra], {}, port)
    try:
        proc.wait_ready("/_sim/stats")
    except RuntimeError:
        proc.stop()
        raise
    return proc


def start_service(env: dict[str, str]) -> Process:
    port = free_port()
    proc = Process("service", [], {"PORT": str(port), "HOST": "127.0.0.1", **env}, port)
    try:
        proc.wait_ready("/health")
    except RuntimeError:
        proc.stop()
        raise
    return proc


def sim_control(sim: Process, action: str, payload: dict[str, Any] | None = None) -> Any:
    """Call the simulator's control plane: stats, reset, config, fail_next, hang_next."""
    data = None if payload is None else json.dumps(payload).encode()
    method = "GET" if action == "stats" else "POST"
    req = urllib.request.Request(
        f"{sim.url}/_sim/{action}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null")
