"""The spelling rules of the names a request and the warmer's config share: project ids and
IANA zone names. A leaf (stdlib only), so the config layer at the bottom and the analytics
layer above it check a name the same way without either importing the other."""

from __future__ import annotations

import functools
import re
import zoneinfo
from importlib import resources

# Looser than Voiceflow's 24 hex digits, yet without the `|` and `:` that the canonical
# query text and the store's key names use as separators.
PROJECT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@functools.cache
def _names() -> dict[str, str]:
    """Every accepted spelling (case-folded) → the canonical IANA name.

    Links from tzdata's `tzdata.zi` ("L Europe/Kyiv Europe/Kiev") fold aliases onto their
    target, so "Europe/Kiev", "europe/kyiv" and "Europe/Kyiv" are one cache key.
    """
    canonical = {name.casefold(): name for name in zoneinfo.available_timezones()}
    text = resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text("utf-8")
    for line in text.splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            canonical[alias.casefold()] = target
    for utc_alias in (
        "utc",
        "etc/utc",
        "etc/uct",
        "uct",
        "etc/universal",
        "universal",
        "zulu",
        "etc/zulu",
        "gmt",
        "etc/gmt",
        "etc/gmt0",
        "etc/gmt+0",
        "etc/gmt-0",
        "gmt0",
        "gmt+0",
        "gmt-0",
        "greenwich",
        "etc/greenwich",
    ):
        canonical[utc_alias] = "UTC"
    return canonical


def canonical_zone(name: str) -> str | None:
    """The canonical IANA name for `name`, or None when no such zone exists."""
    return _names().get(name.strip().casefold())
