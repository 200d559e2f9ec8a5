"""Node for the frontend tests: packages installed from their committed lock (once per lock),
and commands whose output a failure shows."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT

CLIENT = ROOT / "clients" / "typescript"
EXAMPLE = ROOT / "examples" / "nextjs"
INSTALL_SECONDS = 600  # a cold `npm ci` of Next.js over a slow link
# What Node should not do in a test: ask to collect telemetry, or print update notices.
QUIET = {"NEXT_TELEMETRY_DISABLED": "1", "NO_UPDATE_NOTIFIER": "1", "npm_config_fund": "false"}


def require_node() -> None:
    """Fail (never skip) when node or npm is missing: `make system-deps` installs both."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed; `make system-deps` installs them")


def run(args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a command to its end; its output, or a failure showing the output's tail."""
    done = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **QUIET, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} (in {cwd}) exited {done.returncode}:\n{output[-6000:]}")
    return output


def npm_ci(package: Path) -> None:
    """`npm ci` from the committed lock, skipped while node_modules holds that lock's install
    (for the same Node): a stamp file records which."""
    require_node()
    node = run(["node", "--version"], package, 30).strip()
    digest = hashlib.sha256(node.encode())
    for name in ("package.json", "package-lock.json"):
        digest.update((package / name).read_bytes())
    stamp = package / "node_modules" / ".vfac-installed"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    run(["npm", "ci", "--no-audit"], package, INSTALL_SECONDS)
    stamp.write_text(digest.hexdigest())


class Server:
    """A Node server (`next start`) on a port, stopped with SIGTERM; its log kept for failures."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"vfac-node-{port}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **QUIET, **env}, stdout=self._out, stderr=self._out
        )

    def wait_ready(self, path: str = "/", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.url} exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError(f"{self.url}{path} not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        self.log.unlink(missing_ok=True)
