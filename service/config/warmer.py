"""The warmer's schedule, as ops tune it: a TOML file (WARMER_CONFIG), single values
overridden by environment variables. Read with the rest of the settings, so a bad entry
stops start-up with a message naming it — in the web process too, which scores popularity
with the same half-life and, with no Redis, runs the warmer itself."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.analytics.query import PROJECT_ID_RE
from service.analytics.timezones import canonical_zone

PRESETS = ("last_7", "last_30", "last_90", "month_to_date")
_CRON_FIELDS = 5

# environment variable -> (section, entry) of the TOML file it overrides
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "WARMER_INTERVAL_SECONDS": ("refresh", "interval_seconds"),
    "WARMER_TOP_K": ("refresh", "top_k"),
    "WARMER_MARGIN_SECONDS": ("refresh", "margin_seconds"),
    "WARMER_BUDGET_SHARE": ("refresh", "budget_share"),
    "WARMER_HALF_LIFE_SECONDS": ("popularity", "half_life_seconds"),
    "WARMER_LEASE_SECONDS": ("leader", "lease_seconds"),
}


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    tz: str
    presets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WarmerConfig:
    interval: float = 60.0  # refresh-ahead runs this often...
    cron: str | None = None  # ...or on this crontab line, when set
    top_k: int = 50
    margin: float = 30.0  # refresh what goes stale before the next run plus this
    budget_share: float = 0.3  # of UPSTREAM_RATE_PER_SECOND, spent per run at most
    misfire_grace: float = 30.0  # a run late by more than this is skipped, not piled up
    half_life: float = 3600.0
    presets: tuple[str, ...] = PRESETS
    after_midnight: float = 300.0  # seconds past local midnight the preset job runs
    projects: tuple[Project, ...] = ()
    lease: float = 15.0  # leader lease; another warmer takes over within this
    heartbeat: float = 5.0
    source: str = field(default="defaults", compare=False)


class _Errors(list[str]):
    def take(
        self,
        table: Mapping[str, Any],
        name: str,
        where: str,
        check: Callable[[Any], bool],
        rule: str,
        default: Any,
    ) -> Any:
        if name not in table:
            return default
        value = table[name]
        if not check(value):
            self.append(f"{where}.{name} = {value!r}: {rule}")
            return default
        return value


def _valid_cron(value: Any) -> bool:
    from apscheduler.triggers.cron import CronTrigger

    if not isinstance(value, str) or len(value.split()) != _CRON_FIELDS:
        return False
    try:
        trigger = CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError:
        return False
    # A line that never fires (e.g. 31 February) would silently stop the job.
    return trigger.get_next_fire_time(None, datetime.now(UTC)) is not None


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v


def load_warmer_config(path: str, environ: Mapping[str, str]) -> tuple[WarmerConfig, list[str]]:
    """The config and the list of problems (each naming its entry); empty when all is well."""
    errors = _Errors()
    doc: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except OSError as exc:
            return WarmerConfig(), [f"WARMER_CONFIG={path}: cannot be read ({exc.strerror})"]
        except tomllib.TOMLDecodeError as exc:
            return WarmerConfig(), [f"WARMER_CONFIG={path}: not valid TOML ({exc})"]
    for name, (section, entry) in ENV_OVERRIDES.items():
        raw = environ.get(name, "").strip()
        if raw:
            try:
                doc.setdefault(section, {})[entry] = float(raw) if "." in raw else int(raw)
            except ValueError:
                errors.append(f"{name}={raw!r}: must be a number")
    unknown = sorted(set(doc) - {"refresh", "popularity", "presets", "projects", "leader"})
    errors += [f"[{name}]: unknown section" for name in unknown]
    d = WarmerConfig()
    refresh, pop = doc.get("refresh", {}), doc.get("popularity", {})
    pre, leader = doc.get("presets", {}), doc.get("leader", {})
    positive = "must be a number > 0"
    cron = errors.take(
        refresh,
        "cron",
        "refresh",
        _valid_cron,
        "must be a crontab line of 5 fields that fires",
        None,
    )

    presets = errors.take(
        pre,
        "ranges",
        "presets",
        lambda v: isinstance(v, list) and all(p in PRESETS for p in v),
        f"must be a list of {PRESETS}",
        list(d.presets),
    )
    config = WarmerConfig(
        interval=errors.take(
            refresh,
            "interval_seconds",
            "refresh",
            lambda v: _number(v) and v >= 1,
            "must be a number >= 1",
            d.interval,
        ),
        cron=cron,
        top_k=errors.take(
            refresh,
            "top_k",
            "refresh",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5000,
            "must be an integer 1-5000",
            d.top_k,
        ),
        margin=errors.take(
            refresh,
            "margin_seconds",
            "refresh",
            lambda v: _number(v) and v >= 0,
            "must be a number >= 0",
            d.margin,
        ),
        budget_share=errors.take(
            refresh,
            "budget_share",
            "refresh",
            lambda v: _number(v) and 0 < v <= 1,
            "must be a number > 0 and <= 1",
            d.budget_share,
        ),
        misfire_grace=errors.take(
            refresh,
            "misfire_grace_seconds",
            "refresh",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
            "must be an integer >= 1",
            d.misfire_grace,
        ),
        half_life=errors.take(
            pop,
            "half_life_seconds",
            "popularity",
            lambda v: _number(v) and v >= 1,
            "must be a number >= 1",
            d.half_life,
        ),
        presets=tuple(presets),
        after_midnight=errors.take(
            pre,
            "after_midnight_seconds",
            "presets",
            lambda v: _number(v) and 0 <= v < 3600,
            "must be a number 0-3599",
            d.after_midnight,
        ),
        projects=tuple(_projects(doc.get("projects", []), tuple(presets), errors)),
        lease=errors.take(
            leader,
            "lease_seconds",
            "leader",
            lambda v: _number(v) and v >= 1,
            "must be a number >= 1",
            d.lease,
        ),
        heartbeat=errors.take(
            leader,
            "heartbeat_seconds",
            "leader",
            lambda v: _number(v) and v > 0,
            positive,
            d.heartbeat,
        ),
        source=path or "defaults",
    )
    for section, known in (
        (
            "refresh",
            {
                "interval_seconds",
                "cron",
                "top_k",
                "margin_seconds",
                "budget_share",
                "misfire_grace_seconds",
            },
        ),
        ("popularity", {"half_life_seconds"}),
        ("presets", {"ranges", "after_midnight_seconds"}),
        ("leader", {"lease_seconds", "heartbeat_seconds"}),
    ):
        table = doc.get(section, {})
        if not isinstance(table, dict):
            errors.append(f"[{section}]: must be a table")
            continue
        errors += [f"{section}.{k}: unknown entry" for k in sorted(set(table) - known)]
    return config, list(errors)


def _projects(items: Any, presets: tuple[str, ...], errors: _Errors) -> list[Project]:
    if not isinstance(items, list):
        errors.append("[[projects]]: must be an array of tables")
        return []
    out = []
    for i, item in enumerate(items):
        where = f"projects[{i}]"
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
        tz = (
            canonical_zone(item.get("tz", "UTC"))
            if isinstance(item.get("tz", "UTC"), str)
            else None
        )
        if tz is None:
            errors.append(f"{where}.tz = {item.get('tz')!r}: must be an IANA time zone")
            continue
        own = errors.take(
            item,
            "presets",
            where,
            lambda v: isinstance(v, list) and all(p in PRESETS for p in v),
            f"must be a list of {PRESETS}",
            list(presets),
        )
        out.append(Project(pid, tz, tuple(own)))
    return out
