"""Settings read once from the environment (twelve-factor), validated as a whole. Each field
declares its variable, kind, default and help once; parsing, errors and the README table follow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from service.config.kinds import (
    NON_NEGATIVE,
    POSITIVE,
    SHARE,
    ApiKey,
    Bool,
    Host,
    HttpUrl,
    Int,
    Maybe,
    Number,
    OneOf,
    Origins,
    Port,
    Token,
)
from service.config.rules import conflicts
from service.config.secret import Secret
from service.config.spec import SettingsError, markdown, read_env, rows, setting
from service.config.stores import StoreSettings
from service.config.tokens import ApiTokens, Tokens
from service.config.warmer import WarmerConfig, WarmerFile

# Secret and SettingsError are re-exported: callers import them from here with Settings.
__all__ = ["Secret", "Settings", "SettingsError", "markdown_table"]


@dataclass(frozen=True, slots=True)
class Settings(StoreSettings):
    """Every setting; where the cache lives is in StoreSettings (its fields come first)."""

    port: int = setting(
        "PORT",
        Port(),
        default=8080,
        help="TCP port the web process listens on (the Procfile passes it).",
    )
    host: str = setting("HOST", Host(), default="0.0.0.0", help="Interface the web process binds.")
    web_concurrency: int = setting(
        "WEB_CONCURRENCY",
        Int(1, 64),
        default=1,
        help="Web processes on this host, all on PORT (`SO_REUSEPORT`), under a parent that "
        "restarts one that dies and passes SIGTERM on. Needs REDIS_URL or DATABASE_URL.",
    )
    voiceflow_api_key: Secret | None = setting(
        "VOICEFLOW_API_KEY",
        ApiKey(),
        default=None,
        help="Voiceflow API key (`VF.DM.…`, `VF.WS.…`). Empty: the bundled simulator's demo data.",
    )
    voiceflow_url: str = setting(
        "VOICEFLOW_ANALYTICS_URL",
        HttpUrl(),
        default="https://analytics-api.voiceflow.com",
        help="Base URL of Voiceflow's analytics API.",
    )
    cache_ttl: float = setting(
        "CACHE_TTL_SECONDS",
        POSITIVE,
        default=300.0,
        help="Soft TTL: an answer is fresh (`HIT`) this long.",
    )
    cache_stale: float = setting(
        "CACHE_STALE_SECONDS",
        NON_NEGATIVE,
        default=86400.0,
        help="Hard TTL past fresh: a stale answer may still be served this long while it is "
        "refreshed or while upstream fails.",
    )
    cache_local: float = setting(
        "CACHE_LOCAL_SECONDS",
        NON_NEGATIVE,
        default=1.0,
        help="How long a hot answer may be served from process memory (skipping Redis); 0: never.",
    )
    settle: float = setting(
        "CACHE_SETTLE_SECONDS",
        NON_NEGATIVE,
        default=10800.0,
        help="A UTC day is closed (never refetched) once it ended this long ago.",
    )
    open_day_ttl: float = setting(
        "CACHE_OPEN_DAY_TTL_SECONDS",
        POSITIVE,
        default=60.0,
        help="How long an open day's rows (today, or inside the settle delay) are reused.",
    )
    closed_day_ttl: float = setting(
        "CACHE_CLOSED_DAY_TTL_SECONDS",
        POSITIVE,
        default=2592000.0,
        help="How long rows of a closed day are kept.",
    )
    api_tokens: Tokens = setting(
        "API_TOKEN",
        ApiTokens(),
        default=Tokens(),
        help="When any token is set, `/api/*` requires `Authorization: Bearer <token>`; this "
        "one (named `default`) reads every project.",
    )
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS",
        Origins(),
        default=(),
        help="Comma-separated origins allowed by CORS. Empty: none.",
    )
    max_range_days: int = setting(
        "MAX_RANGE_DAYS",
        Int(1, 3660),
        default=366,
        help="Longest date range a request may ask for, in days.",
    )
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES",
        Int(256, 1 << 20),
        default=16384,
        help="Largest request body accepted (413 beyond).",
    )
    upstream_timeout: float = setting(
        "UPSTREAM_TIMEOUT_SECONDS",
        POSITIVE,
        default=15.0,
        help="Timeout of one upstream HTTP request.",
    )
    upstream_deadline: float = setting(
        "UPSTREAM_DEADLINE_SECONDS",
        POSITIVE,
        default=30.0,
        help="Time budget of one upstream page request from its first token on: its attempts "
        "and backoffs (waiting for the budget is not counted: a fetch goes on meanwhile).",
    )
    upstream_max_retries: int = setting(
        "UPSTREAM_MAX_RETRIES",
        Int(0, 10),
        default=3,
        help="Retries of an upstream request after a 5xx or a timeout.",
    )
    upstream_rate: float = setting(
        "UPSTREAM_RATE_PER_SECOND",
        POSITIVE,
        default=10.0,
        help="Upstream requests/s for the whole fleet (every process and the warmer), per API "
        "key. At 50 or less, a fetch also takes the missing days other asks want beside its "
        "own, cut where their ranges reaching today start: fewer windows, fewer requests.",
    )
    upstream_rate_max: float | None = setting(
        "UPSTREAM_RATE_MAX_PER_SECOND",
        Maybe(POSITIVE),
        default=None,
        help="When set, the fleet learns Voiceflow's undocumented limit: from UPSTREAM_RATE_"
        "PER_SECOND its rate rises slowly while requests succeed and halves on a 429, never "
        "above this (nor below a quarter of where it started). Empty: the rate stays put.",
    )
    upstream_burst: float = setting(
        "UPSTREAM_BURST",
        Number(ge=1),  # a bucket smaller than one token could never send a request
        default=5.0,
        help="Upstream requests the fleet may send at once after a quiet spell (the token "
        "bucket's size); half a second's worth leaves Voiceflow's room for clumped sends.",
    )
    upstream_background_share: float = setting(
        "UPSTREAM_BACKGROUND_SHARE",
        SHARE,
        default=0.5,
        help="Share of the rate background refreshes and warming may use; users' misses first.",
    )
    upstream_max_wait: float = setting(
        "UPSTREAM_MAX_WAIT_SECONDS",
        NON_NEGATIVE,
        default=5.0,
        help="Longest a request waits for an answer being fetched; past it, a 503 with "
        "Retry-After estimated from the work left and its progress, while the fetch goes on.",
    )
    upstream_cold_per_token: int = setting(
        "UPSTREAM_COLD_PER_TOKEN",
        Int(1, 100000),
        default=32,
        help="Answers one API token's asks may have being fetched at once per process; one more "
        "is a 503 at once, nothing started (a backlog cannot grow without bound).",
    )
    upstream_fallback_share: float = setting(
        "UPSTREAM_FALLBACK_SHARE",
        SHARE,
        default=0.25,
        help="Share of the fleet's upstream rate a process uses alone while its shared store "
        "is down.",
    )
    upstream_concurrency: int = setting(
        "UPSTREAM_CONCURRENCY",
        Int(1, 256),
        default=16,
        help="Upstream requests in flight per process (a compare needs 16 at once: 8 per period).",
    )
    upstream_max_pages: int = setting(
        "UPSTREAM_MAX_PAGES",
        Int(1, 100000),
        default=200,
        help="Page cap of one upstream query; reaching it is an error.",
    )
    upstream_key_check: float = setting(
        "UPSTREAM_KEY_CHECK_SECONDS",
        POSITIVE,
        default=60.0,
        help="How often readiness asks Voiceflow whether it accepts VOICEFLOW_API_KEY: one "
        "small request per interval for the whole fleet, whose answer every process reports.",
    )
    warmer_embedded: bool = setting(
        "WARMER_EMBEDDED",
        Bool(),
        default=True,
        help="With no shared store (REDIS_URL, DATABASE_URL), run the warmer inside the web "
        "process (`true` or `false`).",
    )
    warmer: WarmerConfig = setting(
        "WARMER_CONFIG",
        WarmerFile(),
        default=WarmerConfig(),
        help="Path of the warmer's TOML file (schedule, top K, presets, projects); see Tuning "
        "the warmer. Empty: built-in defaults.",
    )
    admin_token: Secret | None = setting(
        "ADMIN_TOKEN",
        Token(),
        default=None,
        help="When set, `/api/warmer/status` and `/api/admin/*` require `Authorization: Bearer "
        "<token>` (API_TOKEN is not enough), and `/ops` takes it as Bearer or as the Basic-auth "
        "password. Empty: `/api/admin/*` and `/ops` answer 403.",
    )
    log_level: str = setting(
        "LOG_LEVEL",
        OneOf("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="Python logging level.",
    )
    log_format: str = setting(
        "LOG_FORMAT",
        OneOf("auto", "text", "json"),
        default="auto",
        help="`text`, `json` (one object per line, with the request id), or `auto`: text on "
        "a terminal, JSON otherwise.",
    )
    metrics_enabled: bool = setting(
        "METRICS_ENABLED",
        Bool(),
        default=True,
        help="Count requests for `GET /metrics`; `false`: only what a scrape reads from Redis.",
    )
    warmer_metrics_port: int | None = setting(
        "WARMER_METRICS_PORT",
        Maybe(Port()),
        default=9101,
        help="Port of the warmer process's own `GET /metrics`; empty: none.",
    )

    @property
    def demo(self) -> bool:
        """No Voiceflow key: answers come from the bundled simulator."""
        return self.voiceflow_api_key is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate every variable; raise SettingsError naming all bad ones at once."""
        values, errors = read_env(cls, environ)
        errors += conflicts(values, errors)
        if errors:
            raise SettingsError("invalid configuration: " + "; ".join(errors))
        return cls(**values)

    def describe(self) -> dict[str, str]:
        """A loggable view: every setting, secrets (and credentials in URLs) masked."""
        url = re.sub(r"//[^/@]*@", "//***@", self.voiceflow_url)
        return {f.name: str(getattr(self, f.name)) for f in fields(self)} | {"voiceflow_url": url}


def markdown_table() -> str:
    """The README's configuration table: every variable read, its default and meaning."""
    return markdown(rows(Settings))
