"""The warmer's schedule, as ops tune it: a TOML file (WARMER_CONFIG), single values
overridden by environment variables. Read with the rest of the settings, so a bad entry
stops start-up with a message naming it — in the web process too, which scores popularity
with the same half-life and, with no Redis, runs the warmer itself."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.config.kinds import (
    NON_NEGATIVE,
    POSITIVE,
    SHARE,
    Cron,
    Int,
    Kind,
    ListOf,
    Number,
)
from service.config.spec import Entry, declared, entry
from service.config.table import Row
from service.identifiers import PROJECT_ID_RE, canonical_zone

PRESETS = ("last_7", "last_30", "last_90", "month_to_date")
# A heartbeat outlives two missed beats, so one slow renewal does not read as a dead warmer.
HEARTBEAT_TTL_BEATS = 3
_PROJECTS = "projects"  # the one section that is an array of tables, read by _projects


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    tz: str
    presets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WarmerConfig:
    interval: float = entry(
        "refresh",
        "interval_seconds",
        Number(ge=1),
        default=60.0,
        env="WARMER_INTERVAL_SECONDS",
        help="Refresh-ahead runs this often, unless `cron` is set.",
    )
    cron: str | None = entry(
        "refresh", "cron", Cron(), default=None, help="Crontab line (UTC) refresh-ahead runs on."
    )
    top_k: int = entry(
        "refresh",
        "top_k",
        Int(1, 5000),
        default=50,
        env="WARMER_TOP_K",
        help="The most popular answers each refresh-ahead run considers.",
    )
    margin: float = entry(
        "refresh",
        "margin_seconds",
        NON_NEGATIVE,
        default=30.0,
        env="WARMER_MARGIN_SECONDS",
        help="Refresh what goes stale before the next run plus this.",
    )
    budget_share: float = entry(
        "refresh",
        "budget_share",
        SHARE,
        default=0.3,
        env="WARMER_BUDGET_SHARE",
        help="Of UPSTREAM_RATE_PER_SECOND over the interval, spent per run at most.",
    )
    misfire_grace: float = entry(
        "refresh",
        "misfire_grace_seconds",
        Int(1),
        default=30,
        help="A run late by more than this is skipped, not piled up.",
    )
    half_life: float = entry(
        "popularity",
        "half_life_seconds",
        Number(ge=1),
        default=3600.0,
        env="WARMER_HALF_LIFE_SECONDS",
        help="A request's bump to popularity halves this often.",
    )
    presets: tuple[str, ...] = entry(
        "presets",
        "ranges",
        ListOf(PRESETS),
        default=PRESETS,
        help="Ranges warmed for each project (a project may list its own).",
    )
    after_midnight: float = entry(
        "presets",
        "after_midnight_seconds",
        Number(ge=0, lt=3600),
        default=300.0,
        help="Seconds past local midnight the preset job runs.",
    )
    # Not an entry: [[projects]] is an array of tables whose presets default to the ranges
    # above, so _projects reads it once the entries are known.
    projects: tuple[Project, ...] = ()
    lease: float = entry(
        "leader",
        "lease_seconds",
        Number(ge=1),
        default=15.0,
        env="WARMER_LEASE_SECONDS",
        help="Leader lease; another warmer takes over within this.",
    )
    heartbeat: float = entry(
        "leader",
        "heartbeat_seconds",
        POSITIVE,
        default=5.0,
        help="The acting warmer writes its heartbeat this often.",
    )
    source: str = field(default="defaults", compare=False)  # the file read, for the status

    @property
    def heartbeat_ttl(self) -> float:
        """Seconds a heartbeat stays valid: past it, no warmer is taken to be alive."""
        return self.heartbeat * HEARTBEAT_TTL_BEATS


class WarmerFile(Kind[WarmerConfig]):
    """WARMER_CONFIG: the path of the TOML file, whose entries the WARMER_* variables override."""

    def from_env(
        self, name: str, environ: Mapping[str, str], default: WarmerConfig
    ) -> tuple[WarmerConfig, list[str]]:
        return load_warmer_config(environ.get(name, "").strip(), environ)

    def rows(self, name: str, default: WarmerConfig, help: str) -> list[Row]:
        overrides = [e.override_row(f.default) for f, e in declared(WarmerConfig, Entry)]
        return [Row(name, "", help), *(row for row in overrides if row is not None)]


def load_warmer_config(path: str, environ: Mapping[str, str]) -> tuple[WarmerConfig, list[str]]:
    """The config and the list of problems (each naming its entry); empty when all is well."""
    doc: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as file:
                doc = tomllib.load(file)
        except OSError as exc:
            return WarmerConfig(), [f"WARMER_CONFIG={path}: cannot be read ({exc.strerror})"]
        except tomllib.TOMLDecodeError as exc:
            return WarmerConfig(), [f"WARMER_CONFIG={path}: not valid TOML ({exc})"]
    entries = declared(WarmerConfig, Entry)
    known: dict[str, set[str]] = {}
    for _, e in entries:
        known.setdefault(e.section, set()).add(e.name)
    errors = [f"[{name}]: unknown section" for name in sorted(set(doc) - {*known, _PROJECTS})]
    tables: dict[str, Mapping[str, object]] = {}
    for section, names in known.items():
        table = doc.get(section, {})
        if isinstance(table, dict):
            errors += [f"{section}.{k}: unknown entry" for k in sorted(set(table) - names)]
        else:  # `refresh = 3`, or `[[refresh]]` (an array of tables)
            errors.append(f"[{section}]: must be a table")
            table = {}
        tables[section] = table
    values: dict[str, Any] = {}
    for f, e in entries:
        values[f.name], found = e.read(tables[e.section], environ, f.default)
        errors += found
    projects = _projects(doc.get(_PROJECTS, []), values["presets"], errors)
    return WarmerConfig(**values, projects=tuple(projects), source=path or "defaults"), errors


def _projects(items: object, presets: tuple[str, ...], errors: list[str]) -> list[Project]:
    if not isinstance(items, list):
        errors.append(f"[[{_PROJECTS}]]: must be an array of tables")
        return []
    own_presets = ListOf(PRESETS)
    out = []
    for i, item in enumerate(items):
        where = f"{_PROJECTS}[{i}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be a table with id and tz")
            continue
        errors += [
            f"{where}.{k}: unknown entry" for k in sorted(set(item) - {"id", "tz", "presets"})
        ]
        pid = item.get("id")
        if not isinstance(pid, str) or not PROJECT_ID_RE.fullmatch(pid):
            errors.append(f"{where}.id = {pid!r}: must be 1-64 characters of A-Z a-z 0-9 _ -")
            continue
        tz_name = item.get("tz", "UTC")
        tz = canonical_zone(tz_name) if isinstance(tz_name, str) else None
        if tz is None:
            errors.append(f"{where}.tz = {item.get('tz')!r}: must be an IANA time zone")
            continue
        own, found = own_presets.from_toml(where, item, "presets", presets)
        errors += found
        out.append(Project(pid, tz, own))
    return out
