"""Settings: validated at start-up, every bad variable named, secrets never shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.config import Settings, SettingsError, markdown_table
from tests.readme_table import documented

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
    """The README's configuration table is exactly the one generated from the declarations.

    `python -m tests.readme_table --write` puts the generated table in the README."""
    assert documented((ROOT / "README.md").read_text()) == markdown_table()


def test_direct_construction_has_the_declared_defaults() -> None:
    """`Settings()` (as tests build it) equals what an empty environment gives."""
    assert Settings() == Settings.from_env({})
    assert Settings(port=9000, cache_ttl=5).port == 9000


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("PORT", "99999", "PORT='99999': must be an integer port 1-65535"),
        ("MAX_BODY_BYTES", "1", "MAX_BODY_BYTES='1': must be an integer 256-1048576"),
        ("CACHE_TTL_SECONDS", "nan", "CACHE_TTL_SECONDS='nan': must be a number > 0"),
        ("CACHE_STALE_SECONDS", "inf", "CACHE_STALE_SECONDS='inf': must be a number >= 0"),
        ("UPSTREAM_BURST", "0.5", "UPSTREAM_BURST='0.5': must be a number >= 1"),
        (
            "UPSTREAM_BACKGROUND_SHARE",
            "1.5",
            "UPSTREAM_BACKGROUND_SHARE='1.5': must be a number > 0 and <= 1",
        ),
        ("WARMER_EMBEDDED", "maybe", "WARMER_EMBEDDED='maybe': must be true or false"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD': must be one of DEBUG, INFO, WARNING, ERROR"),
        ("ADMIN_TOKEN", "short", "ADMIN_TOKEN='**********': must be at least 16 characters"),
        (
            "VOICEFLOW_ANALYTICS_URL",
            "ftp://x",
            "VOICEFLOW_ANALYTICS_URL='ftp://x': must be an http:// or https:// URL",
        ),
    ],
)
def test_each_rule_is_spelled_as_before(name: str, raw: str, message: str) -> None:
    """A bad value gets the message its kind spells, secrets masked."""
    with pytest.raises(SettingsError) as err:
        Settings.from_env({name: raw})
    assert str(err.value) == f"invalid configuration: {message}"


def test_values_are_parsed_by_their_kind() -> None:
    """Blank means the default; numbers, booleans, origins and levels are normalised."""
    s = Settings.from_env(
        {
            "PORT": " ",
            "CACHE_TTL_SECONDS": "30",
            "WARMER_EMBEDDED": "No",
            "CORS_ORIGINS": "https://a.example/, http://b.example",
            "LOG_LEVEL": "debug",
            "VOICEFLOW_ANALYTICS_URL": "https://vf.example/api/",
        }
    )
    assert s.port == 8080 and s.cache_ttl == 30.0 and s.warmer_embedded is False
    assert s.cors_origins == ("https://a.example", "http://b.example")
    assert s.log_level == "DEBUG" and s.voiceflow_url == "https://vf.example/api"


def test_rate_probing_is_off_unless_a_maximum_is_set() -> None:
    """UPSTREAM_RATE_MAX_PER_SECOND: empty is off (None); set, it is a number."""
    assert Settings.from_env({}).upstream_rate_max is None
    assert Settings.from_env({"UPSTREAM_RATE_MAX_PER_SECOND": " "}).upstream_rate_max is None
    assert Settings.from_env({"UPSTREAM_RATE_MAX_PER_SECOND": "50"}).upstream_rate_max == 50
    with pytest.raises(SettingsError, match="UPSTREAM_RATE_MAX_PER_SECOND='x': must be a number"):
        Settings.from_env({"UPSTREAM_RATE_MAX_PER_SECOND": "x"})


def test_a_maximum_below_the_rate_names_both() -> None:
    """A probing maximum under the configured rate stops start-up naming both variables."""
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"UPSTREAM_RATE_PER_SECOND": "20", "UPSTREAM_RATE_MAX_PER_SECOND": "5"})
    assert str(err.value) == (
        "invalid configuration: UPSTREAM_RATE_MAX_PER_SECOND='5': must be >= "
        "UPSTREAM_RATE_PER_SECOND (20), the rate probing starts from"
    )
    assert (
        Settings.from_env(
            {"UPSTREAM_RATE_PER_SECOND": "20", "UPSTREAM_RATE_MAX_PER_SECOND": "20"}
        ).upstream_rate_max
        == 20
    )


def test_a_cluster_takes_seed_nodes_and_refuses_what_it_cannot_use() -> None:
    """REDIS_MODE=cluster: one node or a comma-separated list, TCP and database 0 only; a
    list without it is refused; no message shows the password."""
    seeds = "redis://:hunter2password@10.0.0.1:6379, redis://10.0.0.2:6379"
    s = Settings.from_env({"REDIS_URL": seeds, "REDIS_MODE": "CLUSTER"})
    assert s.redis_mode == "cluster" and s.redis_url is not None
    assert s.redis_url.reveal() == seeds.replace(" ", "")
    assert Settings.from_env({}).redis_mode == "standalone"
    for env, names in (
        ({"REDIS_URL": seeds}, "REDIS_MODE=cluster"),
        ({"REDIS_MODE": "cluster"}, "needs REDIS_URL"),
        ({"REDIS_URL": "unix:///run/redis.sock", "REDIS_MODE": "cluster"}, "database 0"),
        ({"REDIS_URL": "redis://:hunter2password@h:6379/2", "REDIS_MODE": "cluster"}, "database 0"),
        ({"REDIS_MODE": "sentinel"}, "REDIS_MODE='sentinel': must be one of standalone, cluster"),
    ):
        with pytest.raises(SettingsError) as err:
            Settings.from_env(env)
        assert names in str(err.value) and "hunter2password" not in str(err.value)


def test_one_store_at_a_time_and_a_usable_database_url() -> None:
    """A Supabase connection string is taken as it is (sslmode and all); two stores at once,
    or Supabase's transaction pooler (no LISTEN/NOTIFY through it), stop start-up with a
    message naming what to change, never the password."""
    supabase = (
        "postgresql://postgres.abcdefghijklmnop:hunter2password@"
        "aws-0-eu-central-1.pooler.supabase.com:5432/postgres?sslmode=require"
    )
    s = Settings.from_env({"DATABASE_URL": supabase})
    assert s.database_url is not None and s.database_url.reveal() == supabase
    assert s.shared_store and s.store_name == "PostgreSQL"
    assert Settings.from_env({"CACHE_DIR": "/tmp/c"}).store_name == "file store"
    assert not Settings.from_env({"CACHE_DIR": "/tmp/c"}).shared_store
    pooler = supabase.replace(":5432/", ":6543/")
    for env, names in (
        ({"DATABASE_URL": supabase, "REDIS_URL": "redis://h:6379"}, "REDIS_URL and DATABASE_URL"),
        ({"DATABASE_URL": supabase, "CACHE_DIR": "/tmp/c"}, "CACHE_DIR and DATABASE_URL"),
        ({"REDIS_URL": "redis://h:6379", "CACHE_DIR": "/tmp/c"}, "CACHE_DIR and REDIS_URL"),
        ({"DATABASE_URL": pooler}, "transaction pooler"),
        ({"DATABASE_URL": supabase + "&pgbouncer=true"}, "transaction pooler"),
        ({"DATABASE_URL": "mysql://u:hunter2password@h/db"}, "must be a postgresql://"),
    ):
        with pytest.raises(SettingsError) as raised:
            Settings.from_env(env)
        assert names in str(raised.value) and "hunter2password" not in str(raised.value)
