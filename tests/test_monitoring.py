"""The ready-made monitoring in docs/: valid alert rules and dashboard queries, over metrics
that exist.

`promtool` (Debian's `prometheus` package, installed by `make system-deps`) checks the
alert rules, and every dashboard query wrapped as a recording rule; every metric either
file names must be one the service exports (its `# TYPE` lines, scraped from the app).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "prometheus-alerts.yml"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
NAME = re.compile(r"\b(?:vfac|process)_[a-z0-9_]+\b")
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum")}  # a counter's TYPE line has its _total


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make system-deps` installs Debian's prometheus package"
    return found


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


async def exported(client: Any) -> set[str]:
    """The sample names a scrape of the service can hold, from its # TYPE lines."""
    text = await (await client.get("/metrics")).text()
    names = set()
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names |= {family} | {family + suffix for suffix in SUFFIXES.get(kind, ())}
    return names


def test_the_alert_rules_pass_promtool() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 16
    rules = "groups:\n  - name: dashboard\n    rules:\n" + "".join(
        f"      - record: dashboard:q{n}\n        expr: {json.dumps(q)}\n"
        for n, q in enumerate(queries)
    )
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(rules)
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_every_metric_they_name_exists(client: Any) -> None:
    names = await exported(client)
    used = set(NAME.findall(RULES.read_text()))
    for query in dashboard_queries():
        used |= set(NAME.findall(query))
    assert used, "the files name no metric"
    assert used <= names, sorted(used - names)
    # One alert for each condition monitoring watches.
    alerts = set(re.findall(r"alert: (\w+)", RULES.read_text()))
    assert alerts == {
        "VfacHitRatioDrop",
        "VfacVoiceflowRateLimiting",
        "VfacStoreDegraded",
        "VfacWarmerHeartbeatMissing",
        "VfacBudgetExhausted",
    }
