"""Opaque pagination cursors: large integers that only fit the query window they came from.

Live cursors look like `127369839`, so ours are a base in that range plus a window tag and an
offset. The tag lets the simulator reject a cursor replayed against another window, which a
buggy client could otherwise page through silently.
"""

from __future__ import annotations

from simulator.catalog import digest_int

CURSOR_BASE = 151_079_880
_OFFSET_BITS = 24  # 16.7 M rows: more than any window since DATA_START can hold
_TAG_BITS = 20  # keeps every cursor below 2**53, exact as a JavaScript number


def window_tag(name: str, project_id: str, start: str, end: str) -> int:
    """The tag of one query window; the page size is not part of it, so it may change."""
    return digest_int(name, project_id, start, end) % (1 << _TAG_BITS)


def encode(tag: int, offset: int) -> int:
    if not 0 <= offset < 1 << _OFFSET_BITS:
        raise ValueError(f"offset {offset} does not fit a cursor")
    return CURSOR_BASE + (tag << _OFFSET_BITS) + offset


def decode(cursor: int, tag: int) -> int | None:
    """The row offset `cursor` stands for, or None when it belongs to no page of this window."""
    value = cursor - CURSOR_BASE
    if value < 0 or value >> _OFFSET_BITS != tag:
        return None
    return value & ((1 << _OFFSET_BITS) - 1)
