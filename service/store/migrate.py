"""The PostgreSQL store's schema, made or brought up to date on start-up.

Versioned SQL files (sql/NNNN_name.sql), applied in order, each in a transaction with its
row in `vfac_cache.migrations`. Every table lives in the schema `vfac_cache`, so none can
clash with an application's own (a Supabase project's `public`). Processes starting at once
take turns on an advisory lock: one applies, the others find it applied.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SCHEMA = "vfac_cache"
_LOCK = 0x7666_6163_6D69_6772  # pg_advisory_lock's key for migrating ("vfacmigr")
# Read once, at import: start-up never reads files on the event loop.
MIGRATIONS: list[tuple[int, str, str]] = sorted(
    (int(match[1]), path.name, path.read_text())
    for path in (Path(__file__).parent / "sql").glob("*.sql")
    if (match := re.fullmatch(r"(\d{4})_\w+\.sql", path.name))
)


async def migrate(conn: Any) -> list[int]:
    """Apply the migrations `conn`'s database lacks; the versions applied (none: up to date)."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        await conn.execute(
            f"CREATE SCHEMA IF NOT EXISTS {SCHEMA};"
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            row["version"] for row in await conn.fetch(f"SELECT version FROM {SCHEMA}.migrations")
        }
        applied = []
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    f"INSERT INTO {SCHEMA}.migrations (version, name) VALUES ($1, $2)",
                    version,
                    name,
                )
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
