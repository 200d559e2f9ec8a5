"""Settings read once from the environment (twelve-factor), validated as a whole."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from service.config.warmer import WarmerConfig, load_warmer_config

T = TypeVar("T")

DEFAULT_VOICEFLOW_URL = "https://analytics-api.voiceflow.com"


class SettingsError(ValueError):
    """One or more environment variables are invalid; the message names each of them."""


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Var:
    """One documented environment variable: its name, default and meaning (the README table)."""

    name: str
    default: str
    help: str


# Every variable the service reads. The README's configuration table is checked against this
# list by a test, so adding a variable here without documenting it fails the suite.
VARIABLES: tuple[Var, ...] = (
    Var("PORT", "8080", "TCP port the web process listens on (the Procfile passes it)."),
    Var("HOST", "0.0.0.0", "Interface the web process binds."),
    Var(
        "REDIS_URL",
        "",
        "Redis URL (`redis://`, `rediss://`, `unix://`). Empty: an in-process store.",
    ),
    Var(
        "VOICEFLOW_API_KEY",
        "",
        "Voiceflow API key (`VF.DM.…` or `VF.WS.…`). Empty: demo data from the bundled simulator.",
    ),
    Var("VOICEFLOW_ANALYTICS_URL", DEFAULT_VOICEFLOW_URL, "Base URL of Voiceflow's analytics API."),
    Var("CACHE_TTL_SECONDS", "300", "Soft TTL: an answer is fresh (`HIT`) this long."),
    Var(
        "CACHE_STALE_SECONDS",
        "86400",
        "Hard TTL past fresh: a stale answer may still be "
        "served this long while it is refreshed or while upstream fails.",
    ),
    Var(
        "CACHE_LOCAL_SECONDS",
        "1",
        "How stale a hot answer kept in process memory may be (skipping Redis); 0 turns the "
        "in-process copy off.",
    ),
    Var(
        "CACHE_SETTLE_SECONDS",
        "10800",
        "A UTC day is closed (never refetched) once it ended this long ago.",
    ),
    Var(
        "CACHE_OPEN_DAY_TTL_SECONDS",
        "60",
        "How long rows of an open day (today, or inside the "
        "settle delay) are reused before they are fetched again.",
    ),
    Var("CACHE_CLOSED_DAY_TTL_SECONDS", "2592000", "How long rows of a closed day are kept."),
    Var("API_TOKEN", "", "When set, `/api/*` requires `Authorization: Bearer <token>`."),
    Var("CORS_ORIGINS", "", "Comma-separated origins allowed by CORS. Empty: none."),
    Var("MAX_RANGE_DAYS", "366", "Longest date range a request may ask for, in days."),
    Var("MAX_BODY_BYTES", "16384", "Largest request body accepted (413 beyond)."),
    Var("UPSTREAM_TIMEOUT_SECONDS", "15", "Timeout of one upstream HTTP request."),
    Var(
        "UPSTREAM_DEADLINE_SECONDS",
        "30",
        "Time budget of one upstream query, retries and Retry-After waits included.",
    ),
    Var("UPSTREAM_MAX_RETRIES", "3", "Retries of an upstream request after a 5xx or a timeout."),
    Var(
        "UPSTREAM_RATE_PER_SECOND",
        "10",
        "Upstream requests per second for the whole fleet "
        "(every process and the warmer), per Voiceflow API key.",
    ),
    Var(
        "UPSTREAM_BURST",
        "20",
        "Upstream requests the fleet may send at once after a quiet "
        "spell (the token bucket's size).",
    ),
    Var(
        "UPSTREAM_BACKGROUND_SHARE",
        "0.5",
        "Share of the rate that background refreshes and "
        "warming may use; users' misses always come first.",
    ),
    Var(
        "UPSTREAM_MAX_WAIT_SECONDS",
        "5",
        "Longest a user's request waits for upstream budget; "
        "past it, a stale answer or a 503 with Retry-After.",
    ),
    Var(
        "UPSTREAM_FALLBACK_SHARE",
        "0.25",
        "Share of the fleet's upstream rate one process uses on its own while it cannot "
        "reach Redis.",
    ),
    Var(
        "UPSTREAM_CONCURRENCY",
        "16",
        "Upstream requests in flight per process (a compare needs 16 at once: 8 per period).",
    ),
    Var("UPSTREAM_MAX_PAGES", "200", "Page cap of one upstream query; reaching it is an error."),
    Var(
        "WARMER_CONFIG",
        "",
        "Path of the warmer's TOML file (schedule, top K, presets, "
        "projects); see Tuning the warmer. Empty: built-in defaults.",
    ),
    Var(
        "WARMER_EMBEDDED",
        "true",
        "With no REDIS_URL, run the warmer inside the web process (`true` or `false`).",
    ),
    Var("WARMER_INTERVAL_SECONDS", "", "Overrides `refresh.interval_seconds` (60)."),
    Var("WARMER_TOP_K", "", "Overrides `refresh.top_k` (50)."),
    Var("WARMER_MARGIN_SECONDS", "", "Overrides `refresh.margin_seconds` (30)."),
    Var("WARMER_BUDGET_SHARE", "", "Overrides `refresh.budget_share` (0.3)."),
    Var("WARMER_HALF_LIFE_SECONDS", "", "Overrides `popularity.half_life_seconds` (3600)."),
    Var("WARMER_LEASE_SECONDS", "", "Overrides `leader.lease_seconds` (15)."),
    Var(
        "ADMIN_TOKEN",
        "",
        "When set, `/api/warmer/status` requires "
        "`Authorization: Bearer <token>` (API_TOKEN is not enough).",
    ),
    Var("LOG_LEVEL", "INFO", "Python logging level."),
)


@dataclass(frozen=True, slots=True)
class Settings:
    port: int = 8080
    host: str = "0.0.0.0"
    redis_url: Secret | None = None  # may carry a password
    voiceflow_api_key: Secret | None = None
    voiceflow_url: str = DEFAULT_VOICEFLOW_URL
    cache_ttl: float = 300.0
    cache_stale: float = 86400.0
    cache_local: float = 1.0
    settle: float = 10800.0
    open_day_ttl: float = 60.0
    closed_day_ttl: float = 2592000.0
    api_token: Secret | None = None
    cors_origins: tuple[str, ...] = ()
    max_range_days: int = 366
    max_body_bytes: int = 16384
    upstream_timeout: float = 15.0
    upstream_deadline: float = 30.0
    upstream_max_retries: int = 3
    upstream_max_pages: int = 200
    upstream_rate: float = 10.0
    upstream_burst: float = 20.0
    upstream_background_share: float = 0.5
    upstream_max_wait: float = 5.0
    upstream_concurrency: int = 16
    upstream_fallback_share: float = 0.25
    log_level: str = "INFO"
    admin_token: Secret | None = None
    warmer_embedded: bool = True
    warmer: WarmerConfig = field(default_factory=WarmerConfig)

    @property
    def demo(self) -> bool:
        """No Voiceflow key: answers come from the bundled simulator."""
        return self.voiceflow_api_key is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate every variable; raise SettingsError naming all bad ones at once."""
        errors: list[str] = []
        defaults = {v.name: v.default for v in VARIABLES}

        def read(name: str, parse: Callable[[str], T], rule: str) -> T:
            raw = environ.get(name, "").strip() or defaults[name]
            try:
                return parse(raw)
            except (ValueError, TypeError):
                errors.append(f"{name}={_shown(name, raw)!s}: {rule}")
                return parse(defaults[name])  # defaults are valid by construction

        values: dict[str, Any] = {
            "port": read("PORT", _int_range(1, 65535), "must be an integer port 1-65535"),
            "host": read("HOST", _nonempty, "must be a host name or address"),
            "redis_url": read("REDIS_URL", _redis_url, "must be a redis:// or rediss:// URL"),
            "voiceflow_api_key": read(
                "VOICEFLOW_API_KEY", _api_key, "must be a Voiceflow key starting with VF."
            ),
            "voiceflow_url": read(
                "VOICEFLOW_ANALYTICS_URL", _http_url, "must be an http:// or https:// URL"
            ),
            "cache_ttl": read("CACHE_TTL_SECONDS", _positive, "must be a number > 0"),
            "cache_stale": read("CACHE_STALE_SECONDS", _non_negative, "must be a number >= 0"),
            "cache_local": read("CACHE_LOCAL_SECONDS", _non_negative, "must be a number >= 0"),
            "settle": read("CACHE_SETTLE_SECONDS", _non_negative, "must be a number >= 0"),
            "open_day_ttl": read("CACHE_OPEN_DAY_TTL_SECONDS", _positive, "must be a number > 0"),
            "closed_day_ttl": read(
                "CACHE_CLOSED_DAY_TTL_SECONDS", _positive, "must be a number > 0"
            ),
            "api_token": read("API_TOKEN", _token, "must be at least 16 characters"),
            "cors_origins": read(
                "CORS_ORIGINS", _origins, "must be comma-separated http(s) origins"
            ),
            "max_range_days": read(
                "MAX_RANGE_DAYS", _int_range(1, 3660), "must be an integer 1-3660"
            ),
            "max_body_bytes": read(
                "MAX_BODY_BYTES", _int_range(256, 1 << 20), "must be an integer 256-1048576"
            ),
            "upstream_timeout": read("UPSTREAM_TIMEOUT_SECONDS", _positive, "must be a number > 0"),
            "upstream_deadline": read(
                "UPSTREAM_DEADLINE_SECONDS", _positive, "must be a number > 0"
            ),
            "upstream_max_retries": read(
                "UPSTREAM_MAX_RETRIES", _int_range(0, 10), "must be an integer 0-10"
            ),
            "upstream_max_pages": read(
                "UPSTREAM_MAX_PAGES", _int_range(1, 100000), "must be an integer 1-100000"
            ),
            "upstream_rate": read("UPSTREAM_RATE_PER_SECOND", _positive, "must be a number > 0"),
            "upstream_burst": read("UPSTREAM_BURST", _at_least_one, "must be a number >= 1"),
            "upstream_background_share": read(
                "UPSTREAM_BACKGROUND_SHARE", _share, "must be a number > 0 and <= 1"
            ),
            "upstream_max_wait": read(
                "UPSTREAM_MAX_WAIT_SECONDS", _non_negative, "must be a number >= 0"
            ),
            "upstream_fallback_share": read(
                "UPSTREAM_FALLBACK_SHARE", _share, "must be a number > 0 and <= 1"
            ),
            "upstream_concurrency": read(
                "UPSTREAM_CONCURRENCY", _int_range(1, 256), "must be an integer 1-256"
            ),
            "log_level": read(
                "LOG_LEVEL", _log_level, "must be one of DEBUG, INFO, WARNING, ERROR"
            ),
            "admin_token": read("ADMIN_TOKEN", _token, "must be at least 16 characters"),
            "warmer_embedded": read("WARMER_EMBEDDED", _bool, "must be true or false"),
        }
        values["warmer"], problems = load_warmer_config(
            environ.get("WARMER_CONFIG", "").strip(), environ
        )
        errors.extend(problems)
        if errors:
            raise SettingsError("invalid configuration: " + "; ".join(errors))
        return cls(**values)

    def describe(self) -> dict[str, str]:
        """A loggable view: every setting, secrets (and credentials in URLs) masked."""
        shown = {f.name: str(getattr(self, f.name)) for f in fields(self)}
        shown["voiceflow_url"] = re.sub(r"//[^/@]*@", "//***@", self.voiceflow_url)
        return shown


_SECRET_VARS = {"VOICEFLOW_API_KEY", "API_TOKEN", "REDIS_URL", "ADMIN_TOKEN"}


def _shown(name: str, raw: str) -> str:
    return "'**********'" if name in _SECRET_VARS else repr(raw)


def _nonempty(raw: str) -> str:
    if not raw:
        raise ValueError(raw)
    return raw


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not lo <= value <= hi:
            raise ValueError(raw)
        return value

    return parse


def _positive(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(raw)
    return value


def _non_negative(raw: str) -> float:
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _at_least_one(raw: str) -> float:
    value = _positive(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _share(raw: str) -> float:
    value = _positive(raw)
    if value > 1:
        raise ValueError(raw)
    return value


def _redis_url(raw: str) -> Secret | None:
    if not raw:
        return None
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("scheme")
    return Secret(raw)


def _api_key(raw: str) -> Secret | None:
    if not raw:
        return None
    if not raw.startswith("VF.") or any(c.isspace() for c in raw):
        raise ValueError("format")
    return Secret(raw)


def _token(raw: str) -> Secret | None:
    if not raw:
        return None
    if len(raw) < 16:
        raise ValueError("short")
    return Secret(raw)


def _http_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", raw):
        raise ValueError(raw)
    return raw.rstrip("/")


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^\s/]+", origin):
            raise ValueError(origin)
    return origins


def _bool(raw: str) -> bool:
    value = raw.lower()
    if value not in {"true", "false", "1", "0", "yes", "no"}:
        raise ValueError(raw)
    return value in {"true", "1", "yes"}


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(raw)
    return level
