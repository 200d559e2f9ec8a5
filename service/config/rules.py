"""Rules across variables, checked once each variable is valid on its own: a pair that parse
alone but cannot work together stops start-up with a message naming both."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from service.config.table import spell


def conflicts(values: Mapping[str, Any], errors: list[str]) -> list[str]:
    """The problems of `values` (by field name) as a whole; `errors` are each variable's own,
    and a rule about a variable already reported is not checked again."""
    return _rate(values, errors) + _redis(values, errors) + _stores(values, errors)


def _rate(values: Mapping[str, Any], errors: list[str]) -> list[str]:
    rate, ceiling = values["upstream_rate"], values["upstream_rate_max"]
    bad = ("UPSTREAM_RATE_PER_SECOND=", "UPSTREAM_RATE_MAX_PER_SECOND=")
    if ceiling is None or ceiling >= rate or any(e.startswith(bad) for e in errors):
        return []
    return [
        f"UPSTREAM_RATE_MAX_PER_SECOND={spell(ceiling)!r}: must be >= "
        f"UPSTREAM_RATE_PER_SECOND ({spell(rate)}), the rate probing starts from"
    ]


def _redis(values: Mapping[str, Any], errors: list[str]) -> list[str]:
    """A list of seed nodes is for a cluster; a cluster's nodes are TCP, database 0. The URL
    may hold a password: messages never quote it."""
    if any(e.startswith(("REDIS_URL=", "REDIS_MODE=")) for e in errors):
        return []
    secret, mode = values["redis_url"], values["redis_mode"]
    urls = [] if secret is None else secret.reveal().split(",")
    if mode != "cluster":
        if len(urls) > 1:
            return ["REDIS_URL: a comma-separated list of nodes needs REDIS_MODE=cluster"]
        return []
    if not urls:
        return ["REDIS_MODE=cluster: needs REDIS_URL, the cluster's seed nodes"]
    for url in urls:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("redis", "rediss") or parts.path.strip("/") not in ("", "0"):
            return [
                "REDIS_URL: with REDIS_MODE=cluster each node must be a redis:// or rediss:// "
                "URL of database 0 (a cluster has no other)"
            ]
    return []


# Supabase's transaction pooler hands each transaction any server connection: LISTEN/NOTIFY,
# which wakes waiters in other processes, cannot work through it.
_TRANSACTION_POOLER = re.compile(r"@[^/?]*\.pooler\.supabase\.com:6543[/?]|[?&]pgbouncer=true")


def _stores(values: Mapping[str, Any], errors: list[str]) -> list[str]:
    """One store at a time; a PostgreSQL that can deliver notifications."""
    named = [
        name
        for name, field in (("REDIS_URL", "redis_url"), ("DATABASE_URL", "database_url"))
        if values[field] is not None
    ]
    if len(named) == 2:
        return ["REDIS_URL and DATABASE_URL are both set: the cache lives in one store, set one"]
    if named and values["cache_dir"] is not None:
        return [
            f"CACHE_DIR and {named[0]} are both set: CACHE_DIR is the single-host file store, "
            f"{named[0]} the shared one; set one"
        ]
    url = values["database_url"]
    if url is not None and _TRANSACTION_POOLER.search(url.reveal() + "/"):
        return [
            "DATABASE_URL: Supabase's transaction pooler (port 6543, or pgbouncer=true) cannot "
            "deliver LISTEN/NOTIFY; use its session pooler (port 5432) or the direct connection"
        ]
    return []
