"""Garbage answers, on demand only: 200s that break the contract in one named way each.

They test a client's guards (voiceflow-api.md): each kind is one way a live API, a proxy or a
bad deploy could answer nonsense with a 200. A kind is drawn for a valid, authorised query
and spends its budget like any answer; without one queued, every answer follows the contract.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from simulator import cursor
from simulator.data import ordered_rows, to_item
from simulator.responses import json_response
from simulator.validation import Query

KINDS = (
    "malformed_json",  # a body cut short: not JSON at all
    "missing_items",  # result without its items (top_intents: without intents)
    "missing_field",  # one item without `period` (an intent without `count`)
    "mistyped_field",  # one item's `count` a string ("12"), the same for an intent
    "endless_cursor",  # a cursor on every page, pages starting over past the end (list metrics)
    "oversized_page",  # half as many items again as the `limit` asked
)
LIST_ONLY = frozenset({"endless_cursor"})  # top_intents has no cursor to break

_CUT_SHORT = b'{"result": {"items": [{"period": "2025-01-0'


def applies(kind: str, name: str) -> bool:
    return name != "top_intents" or kind not in LIST_ONLY


def response(
    kind: str, query: Query, good: dict[str, Any], now: datetime, headers: Mapping[str, str]
) -> web.Response:
    """The garbage of `kind` answered instead of `good`, the body the contract asks for."""
    if kind == "malformed_json":
        return web.Response(body=_CUT_SHORT, content_type="application/json", headers=headers)
    body = copy.deepcopy(good)
    result = body["result"]
    entries = "intents" if query.name == "top_intents" else "items"
    listed: list[dict[str, Any]] = result[entries]
    if kind == "missing_items":
        del result[entries]
    elif kind in ("missing_field", "mistyped_field"):
        if not listed:  # nothing to spoil: one made-up entry, spoilt
            listed.append({"name": "refund"} if entries == "intents" else _made_up(query))
            listed[0]["count"] = 1
        entry = listed[len(listed) // 2]
        field = "count" if entries == "intents" or kind == "mistyped_field" else "period"
        if kind == "missing_field":
            del entry[field]
        else:
            entry[field] = str(entry[field])
    elif kind == "oversized_page":
        result[entries] = _more_than(query, listed, now)
    elif kind == "endless_cursor":
        result["items"], result["cursor"] = _endless(query, now)
    else:
        raise ValueError(f"unknown garbage kind {kind!r}")
    return json_response(body, headers=headers)


def _window(query: Query, now: datetime) -> tuple[list[dict[str, Any]], int, int]:
    """The window's rows as items, the offset the query's cursor stands for, its tag."""
    tag = cursor.window_tag(query.name, query.project_id, query.start_text, query.end_text)
    offset = 0 if query.cursor is None else cursor.decode(query.cursor, tag) or 0
    rows = ordered_rows(query.project_id, query.name, query.start, query.end, now)
    return [to_item(query.project_id, query.name, r) for r in rows], offset, tag


def _made_up(query: Query) -> dict[str, Any]:
    return {"period": query.start_text, "projectID": query.project_id, "environmentID": ""}


def _more_than(query: Query, listed: list[dict[str, Any]], now: datetime) -> list[Any]:
    """limit * 1.5 entries (at least limit + 1): the window's rows over again if it has
    fewer; a made-up filler where it has none."""
    size = max(query.limit + 1, query.limit * 3 // 2)
    if query.name == "top_intents":
        extra = [{"name": f"unlisted_{i}", "count": 0} for i in range(size - len(listed))]
        return [*listed, *extra]
    items, offset, _tag = _window(query, now)
    if not items:
        return [{**_made_up(query), "count": 1} for _ in range(size)]
    return [items[(offset + i) % len(items)] for i in range(size)]


def _endless(query: Query, now: datetime) -> tuple[list[dict[str, Any]], int]:
    """The page at the cursor, wrapping past the end to the start, and a cursor after it
    always: a client that only follows cursors pages forever. (A window without rows gives
    an empty page, which ends the query all the same [doc].)"""
    items, offset, tag = _window(query, now)
    start = offset % len(items) if items else 0
    # encode() refuses an offset past 2**24 (a 500 here): ~33k pages, more than any client
    # should follow.
    return items[start : start + query.limit], cursor.encode(tag, offset + query.limit)
