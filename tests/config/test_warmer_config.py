"""The warmer's TOML file: each entry checked by its declared kind, overridden by its
declared variable, and every malformed part named rather than crashing start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import (
    HEARTBEAT_TTL_BEATS,
    PRESETS,
    Project,
    Settings,
    SettingsError,
    WarmerConfig,
    load_warmer_config,
)


def load(tmp_path: Path, text: str, **environ: str) -> tuple[WarmerConfig, list[str]]:
    path = tmp_path / "warmer.toml"
    path.write_text(text)
    return load_warmer_config(str(path), environ)


@pytest.mark.parametrize(
    ("text", "section"),
    [
        ("refresh = 3\n", "refresh"),
        ("[[refresh]]\ntop_k = 5\n", "refresh"),
        ('leader = "x"\n', "leader"),
        ("presets = [1, 2]\n", "presets"),
    ],
)
def test_a_section_that_is_not_a_table_is_named(tmp_path: Path, text: str, section: str) -> None:
    """`refresh = 3` or `[[refresh]]` stops start-up with "[refresh]: must be a table"."""
    path = tmp_path / "warmer.toml"
    path.write_text(text)
    # WARMER_TOP_K too: an override of an entry in a broken section must not crash either
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"WARMER_CONFIG": str(path), "WARMER_TOP_K": "9"})
    assert f"[{section}]: must be a table" in str(err.value)


def test_entries_are_read_with_their_types(tmp_path: Path) -> None:
    """Every entry of the README's kind lands on its field; projects take the ranges."""
    config, problems = load(
        tmp_path,
        '[refresh]\ncron = "*/2 * * * *"\ntop_k = 7\nmisfire_grace_seconds = 10\n'
        '[presets]\nranges = ["last_7"]\nafter_midnight_seconds = 60\n'
        "[leader]\nheartbeat_seconds = 2\n"
        '[[projects]]\nid = "p1"\ntz = "europe/kiev"\n'
        '[[projects]]\nid = "p2"\npresets = ["last_30"]\n',
    )
    assert problems == []
    assert (config.cron, config.top_k, config.misfire_grace) == ("*/2 * * * *", 7, 10)
    assert config.presets == ("last_7",) and config.after_midnight == 60
    assert config.projects == (
        Project("p1", "Europe/Kyiv", ("last_7",)),
        Project("p2", "UTC", ("last_30",)),
    )
    assert config.heartbeat_ttl == 2 * HEARTBEAT_TTL_BEATS


def test_defaults_without_a_file() -> None:
    """No WARMER_CONFIG: the declared defaults, and a heartbeat valid three beats."""
    config, problems = load_warmer_config("", {})
    assert problems == [] and config == WarmerConfig() and config.presets == PRESETS
    assert config.heartbeat_ttl == config.heartbeat * HEARTBEAT_TTL_BEATS == 15


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[refresh]\ntop_k = 0\n", "refresh.top_k = 0: must be an integer 1-5000"),
        ("[refresh]\ntop_k = true\n", "refresh.top_k = True: must be an integer 1-5000"),
        (
            "[refresh]\ninterval_seconds = 0.5\n",
            "refresh.interval_seconds = 0.5: must be a number >= 1",
        ),
        (
            "[refresh]\nbudget_share = 0\n",
            "refresh.budget_share = 0: must be a number > 0 and <= 1",
        ),
        (
            "[refresh]\nmisfire_grace_seconds = 1.5\n",
            "refresh.misfire_grace_seconds = 1.5: must be an integer >= 1",
        ),
        ('[refresh]\ncron = "0 0 31 2 *"\n', "must be a crontab line of 5 fields that fires"),
        ("[popularity]\nhalf_life_seconds = inf\n", "popularity.half_life_seconds = inf"),
        (
            "[presets]\nafter_midnight_seconds = 3600\n",
            "presets.after_midnight_seconds = 3600: must be a number >= 0 and < 3600",
        ),
        (
            '[presets]\nranges = ["last_year"]\n',
            "presets.ranges = ['last_year']: must be a list of",
        ),
        ("[leader]\nheartbeat_seconds = 0\n", "leader.heartbeat_seconds = 0: must be a number > 0"),
        ("[leader]\nspeed = 1\n", "leader.speed: unknown entry"),
        ("[bogus]\n", "[bogus]: unknown section"),
        ('[projects]\nid = "p"\n', "[[projects]]: must be an array of tables"),
        ("projects = [1]\n", "projects[0]: must be a table with id and tz"),
        ('[[projects]]\nid = "p"\ntz = 3\n', "projects[0].tz = 3: must be an IANA time zone"),
        ('[[projects]]\nid = "p"\npresets = 1\n', "projects[0].presets = 1: must be a list of"),
    ],
)
def test_each_bad_entry_is_named(tmp_path: Path, text: str, message: str) -> None:
    """A bad entry is reported with its place and the rule its kind spells."""
    _, problems = load(tmp_path, text)
    assert any(message in p for p in problems), problems


def test_an_override_is_checked_by_the_entrys_kind(tmp_path: Path) -> None:
    """A WARMER_* variable wins over the file and is held to the entry's rule by its own name."""
    config, problems = load(
        tmp_path, "[refresh]\ntop_k = 0\nbudget_share = 0.5\n", WARMER_TOP_K="9"
    )
    assert problems == [] and config.top_k == 9 and config.budget_share == 0.5
    _, problems = load(tmp_path, "", WARMER_TOP_K="0", WARMER_LEASE_SECONDS="soon")
    assert problems == [
        "WARMER_TOP_K='0': must be an integer 1-5000",
        "WARMER_LEASE_SECONDS='soon': must be a number >= 1",
    ]


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    """A missing file or bad TOML names WARMER_CONFIG."""
    _, problems = load_warmer_config(str(tmp_path / "missing.toml"), {})
    assert problems[0].startswith(f"WARMER_CONFIG={tmp_path / 'missing.toml'}: cannot be read")
    _, problems = load(tmp_path, "[refresh\n")
    assert "not valid TOML" in problems[0]
