"""Where the cache lives: Redis or PostgreSQL shared by a fleet, a file on this host, or this
process's memory. At most one of REDIS_URL, DATABASE_URL and CACHE_DIR (rules.py says so)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.config.kinds import POSITIVE, Int, OneOf, RedisUrl, Scalar
from service.config.secret import Secret
from service.config.spec import setting


class DatabaseUrl(Scalar[Secret | None]):
    """A PostgreSQL connection string, as Supabase and libpq spell it (`sslmode` and all)."""

    secret = True  # it carries the password
    rule = "must be a postgresql:// or postgres:// URL"

    def parse(self, raw: str) -> Secret:
        if not re.fullmatch(r"postgres(ql)?://\S+", raw):
            raise ValueError("scheme")
        return Secret(raw)


class Directory(Scalar[str | None]):
    rule = "must be a directory path (created when missing)"

    def parse(self, raw: str) -> str:
        if "\0" in raw:
            raise ValueError(raw)
        return raw


@dataclass(frozen=True, slots=True)
class StoreSettings:
    redis_url: Secret | None = setting(
        "REDIS_URL",
        RedisUrl(),
        default=None,
        help="Redis URL (`redis://`, `rediss://`, `unix://`); for a cluster, any node or "
        "comma-separated seed nodes (the first one's credentials). Empty: see DATABASE_URL.",
    )
    redis_mode: str = setting(
        "REDIS_MODE",
        OneOf("standalone", "cluster"),
        default="standalone",
        help="`cluster`: REDIS_URL names a Redis Cluster (sharded pub/sub, per-slot reads).",
    )
    database_url: Secret | None = setting(
        "DATABASE_URL",
        DatabaseUrl(),
        default=None,
        help="PostgreSQL (or Supabase) connection string, `sslmode` included, instead of Redis; "
        "tables in schema `vfac_cache`, made on start-up. Empty: see CACHE_DIR.",
    )
    database_pool_size: int = setting(
        "DATABASE_POOL_SIZE",
        Int(2, 500),
        default=10,
        help="PostgreSQL connections per process, plus one that listens for notifications.",
    )
    cache_dir: str | None = setting(
        "CACHE_DIR",
        Directory(),
        default=None,
        help="Directory of a file store (SQLite) kept across restarts, for one process on one "
        "host. Empty: an in-process store, lost on restart.",
    )
    memory_store_mb: float = setting(
        "CACHE_MEMORY_MAX_MB",
        POSITIVE,
        default=256.0,
        help="In-process store's bound in MiB: past it, least recently used values go first.",
    )

    @property
    def shared_store(self) -> bool:
        """Whether processes share the store (Redis or PostgreSQL): then there is a fleet, with
        one cache, single flight and budget, and the warmer runs in processes of its own."""
        return self.redis_url is not None or self.database_url is not None

    @property
    def store_name(self) -> str:
        """The store, as /health, the ops page and the logs name it."""
        if self.redis_url is not None:
            return "Redis Cluster" if self.redis_mode == "cluster" else "Redis"
        if self.database_url is not None:
            return "PostgreSQL"
        return "file store" if self.cache_dir is not None else "in-process store"
