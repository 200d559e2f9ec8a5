"""How the ops page writes numbers and times for a person: "in 4 min", "93%", "1,204".

Every function returns escaped text, ready to put in the HTML.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

DASH = "&ndash;"  # no value (HTML: every function here returns HTML text)


def esc(value: object) -> str:
    """Any value as HTML text (quotes too: it may land in an attribute)."""
    return html.escape("" if value is None else str(value), quote=True)


def span(seconds: float) -> str:
    """A length of time, as coarse as a person reads it: 3 ms, 42 s, 4 min, 2 h 5 min, 3 d."""
    s = abs(seconds)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 90:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s".replace(".0 s", " s")
    if round(s / 60) < 60:
        return f"{s / 60:.0f} min"
    if s < 36 * 3600:
        hours, minutes = divmod(round(s / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{s / 86400:.0f} d"


def relative(ts: float | None, now: float) -> str:
    """A moment against now: "in 4 min", "12 s ago", "now"; its UTC time in a tooltip."""
    if ts is None:
        return DASH
    delta = ts - now
    text = "now" if abs(delta) < 1 else f"in {span(delta)}" if delta > 0 else f"{span(delta)} ago"
    return f'<time datetime="{esc(utc(ts))}" title="{esc(utc(ts))}">{esc(text)}</time>'


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")


def pct(ratio: float | None) -> str:
    return DASH if ratio is None else f"{ratio * 100:.0f}%"


def num(value: float | None, digits: int = 0) -> str:
    """1,204 or 3.5; a whole float loses its ".0"."""
    if value is None:
        return DASH
    if digits and abs(value - round(value)) < 10**-digits / 2:
        digits = 0
    return f"{value:,.{digits}f}"


def short(value: float) -> str:
    """An axis label: 0, 2.5, 1,000: no trailing zeros."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def rate(per_second: float) -> str:
    """Requests a second, with as many digits as a small rate needs."""
    digits = 0 if per_second >= 10 else 1 if per_second >= 1 else 2
    text = f"{per_second:,.{digits}f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "/s"
