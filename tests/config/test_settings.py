"""Settings: validated at start-up, every bad variable named, secrets never shown."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.config.settings import VARIABLES, Settings, SettingsError
from tests.readme_table import table_row

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_mode() -> None:
    """No environment: in-process store, demo data, documented defaults."""
    s = Settings.from_env({})
    assert s.redis_url is None and s.demo
    assert s.port == 8080 and s.cache_ttl == 300 and s.max_range_days == 366


def test_every_bad_variable_is_named_at_once() -> None:
    """One error lists each invalid variable with its rule."""
    with pytest.raises(SettingsError) as err:
        Settings.from_env(
            {
                "PORT": "http",
                "CACHE_TTL_SECONDS": "-5",
                "CORS_ORIGINS": "nope",
                "REDIS_URL": "mysql://x",
                "LOG_LEVEL": "LOUD",
            }
        )
    message = str(err.value)
    for name in ("PORT", "CACHE_TTL_SECONDS", "CORS_ORIGINS", "REDIS_URL", "LOG_LEVEL"):
        assert name in message


def test_secrets_are_masked() -> None:
    """repr, describe() and error messages never contain a secret."""
    key, token = "VF.WS.supersecretkey1234", "tok-supersecret-0123456789"
    redis_url = "redis://:hunter2password@localhost:6379/0"
    s = Settings.from_env({"VOICEFLOW_API_KEY": key, "API_TOKEN": token, "REDIS_URL": redis_url})
    shown = repr(s) + str(s.describe())
    for secret in (key, token, "hunter2password"):
        assert secret not in shown
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"VOICEFLOW_API_KEY": "not a key with spaces", "API_TOKEN": "short"})
    assert "not a key" not in str(err.value) and "short" not in str(err.value).split(":", 1)[1]


def test_bad_config_stops_start_up_with_the_name() -> None:
    """`python -m service` exits non-zero and names the variable."""
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        env={"PORT": "99999"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "PORT" in result.stderr


def test_readme_table_matches_the_code() -> None:
    """The README's configuration table is exactly the variables read, defaults and meaning.

    `python -m tests.readme_table` prints the table to paste."""
    readme = (ROOT / "README.md").read_text()
    documented = re.findall(r"^\| `[A-Z_]+` \|.*$", readme, re.MULTILINE)
    assert documented == [table_row(v) for v in VARIABLES]
