"""`python -m warmer` as ops run it, where no Redis makes it moot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_warmer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warmer", *args],
        env={"PATH": "/usr/bin:/bin"},  # no REDIS_URL, no key: the embedded defaults
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_plan_without_redis_says_why_there_is_nothing_to_plan() -> None:
    """With no shared store, `plan` says the warmer lives in the web process, and exits 1."""
    result = run_warmer("plan")
    assert result.returncode == 1, result.stderr
    assert "no shared store (REDIS_URL, DATABASE_URL)" in result.stdout
    assert "/api/warmer/status" in result.stdout
    assert "to refresh" not in result.stdout


def test_check_without_redis_points_at_the_web_process() -> None:
    """With no shared store, `--check` points at the web process's readiness, and exits 1."""
    result = run_warmer("--check")
    assert result.returncode == 1, result.stderr
    assert "no shared store (REDIS_URL, DATABASE_URL)" in result.stdout
    assert "/health/ready" in result.stdout
