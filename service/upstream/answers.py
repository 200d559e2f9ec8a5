"""What a 200 from Voiceflow may hold (voiceflow-api.md), checked before anything is kept.

An answer that breaks the contract is refused whole, as UpstreamBadAnswer (a 502 naming the
problem): one unplaceable row would otherwise be stored as a day that is silently wrong.
Per field, as the contract has it:
- Every field it lists for an item is required, with its type [chosen: it lists what items
  carry, not what they may omit]: `period` (an ISO-8601 time inside the asked window, whose
  bounds are inclusive), `count` (an integer >= 0), `projectID` (the project asked),
  `environmentID`, and the metric's own fields (strings; `successCount` an integer >= 0).
  Fields it does not list are ignored: it lists fields, it does not forbid more.
- Rows are one per hour, environment and entity [doc]: a repeat would be counted twice, so
  it is refused too — it is what a cursor that starts over looks like. One repeat is not: a
  page that begins with the last n rows of the page before, in order. A cursor marks a
  place in a list that is not in time order [seen], so n rows of the open hour appearing
  before that place between two pages push the rest on by n [chosen: read so]; those n
  are held already, and are dropped. Nothing is skipped that way.
- A page holds at most the `limit` asked; the cursor is an integer and moves on [doc].
- top_intents: at most `limit` intents of a string `name` and a `count`, count descending
  [doc], each intent once (a second would be summed into the first).
A `period` written inside its hour is placed in that hour, and one without an offset is read
as UTC [chosen]: neither can put a count in the wrong place.
Upstream values are not echoed into details (beyond numbers and our own timestamps): an
answer is not trusted to be free of anything secret.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.errors import UpstreamBadAnswer
from service.upstream.wire import iso_z

Row = dict[str, Any]

COMMON_FIELDS = ("period", "projectID", "environmentID", "count")
# metric -> its documented fields besides the common ones, and those that tell its rows apart
METRIC_FIELDS: dict[str, tuple[str, ...]] = {
    "interactions": ("type",),
    "unique_users": (),
    "credit_usage": ("diagramID", "nodeID", "model", "type"),
    "function_usage": ("functionID", "name", "successCount"),
    "api_calls": ("apiToolID", "name", "successCount"),
    "kb_documents": ("documentID",),
    "integrations": ("integrationToolName", "successCount"),
}
ENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "interactions": ("type",),
    "unique_users": (),
    "credit_usage": ("diagramID", "nodeID", "model", "type"),
    "function_usage": ("functionID",),
    "api_calls": ("apiToolID",),
    "kb_documents": ("documentID",),
    "integrations": ("integrationToolName",),
}
COUNT_FIELDS = frozenset({"count", "successCount"})


def _kind(value: Any) -> str:
    """What a JSON value is, without its content."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number" if isinstance(value, int) else "a fractional number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count_problem(field: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{field} {value}, not an integer >= 0"
    return f"{field} that is {_kind(value)}, not an integer >= 0"


def parse_period(value: Any) -> datetime | None:
    """The aware UTC time of a `period`, or None when it is not an ISO-8601 time."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class ListAnswers:
    """The pages of one list-metric query, each checked against the contract as it comes."""

    def __init__(
        self,
        name: str,
        project_id: str,
        start: datetime,
        end: datetime,
        limit: int,
        cursor: Any = None,
    ) -> None:
        self._project = project_id
        self._start, self._end = start, end
        self._limit = limit
        self._fields = COMMON_FIELDS + METRIC_FIELDS[name]
        self._entity = ENTITY_FIELDS[name]
        self._cursors: set[int] = {cursor} if isinstance(cursor, int) else set()
        self._rows: set[tuple[Any, ...]] = set()  # identities of this run's pages' rows
        self._before: list[tuple[Any, ...]] = []  # those of the page before, in its order

    def page(self, result: dict[str, Any], what: str) -> tuple[list[Row], int | None]:
        """The items of one page's `result` and the cursor after it (None: the last page)."""
        items = result.get("items")
        if not isinstance(items, list):
            shown = "no items" if items is None else f"items that are {_kind(items)}"
            raise UpstreamBadAnswer(f"Voiceflow answered {what} with {shown}, not a list")
        if len(items) > self._limit:
            raise UpstreamBadAnswer(
                f"Voiceflow answered {what} with {len(items)} items, "
                f"more than the {self._limit} asked"
            )
        cursor = result.get("cursor")
        if cursor is not None and not (isinstance(cursor, int) and not isinstance(cursor, bool)):
            raise UpstreamBadAnswer(
                f"Voiceflow answered {what} with a cursor that is {_kind(cursor)}, not an integer"
            )
        keys = []
        for n, item in enumerate(items, 1):
            problem = self._item_problem(item)
            if isinstance(problem, str):
                raise UpstreamBadAnswer(
                    f"Voiceflow answered {what} with item {n} of {len(items)} {problem}"
                )
            keys.append(problem)
        if cursor is None or not items:
            cursor = None  # the end, either way [doc]
        elif cursor in self._cursors:
            raise UpstreamBadAnswer(
                f"Voiceflow answered {what} with a cursor that did not advance ({cursor}): "
                "one it gave before"
            )
        else:
            self._cursors.add(cursor)
        pushed = _pushed_on(self._before, keys)
        self._no_repeats(keys[pushed:], what, pushed)
        self._before = keys
        return items[pushed:], cursor

    def _item_problem(self, item: Any) -> str | tuple[Any, ...]:
        """What is wrong with `item`, or its identity (hour, environment, entity) if nothing."""
        if not isinstance(item, dict):
            return f"being {_kind(item)}, not an object"
        for field in self._fields:
            if field not in item:
                return f"missing {field}"
            value = item[field]
            if field in COUNT_FIELDS:
                if not _is_count(value):
                    return f"having {_count_problem(field, value)}"
            elif not isinstance(value, str):
                return f"having {field} that is {_kind(value)}, not a string"
        t = parse_period(item["period"])
        if t is None:
            return "having a period that is not an ISO-8601 time"
        if not self._start <= t <= self._end:
            return (
                f"having period {iso_z(t)}, outside the asked window "
                f"{iso_z(self._start)} to {iso_z(self._end)}"
            )
        if item["projectID"] != self._project:
            return "having a projectID that is not the project asked"
        return (t, item["environmentID"], *(item[f] for f in self._entity))

    def _no_repeats(self, keys: list[tuple[Any, ...]], what: str, skipped: int) -> None:
        """Rows are one per hour, environment and entity [doc]: a second is counted twice."""
        for n, key in enumerate(keys, skipped + 1):
            if key in self._rows:
                same = ", ".join(("hour", "environment", *self._entity))
                raise UpstreamBadAnswer(
                    f"Voiceflow answered {what} with item {n} of {len(keys) + skipped} "
                    f"repeating a row already given (same {same}): pages that start over"
                )
            self._rows.add(key)


def _pushed_on(before: list[tuple[Any, ...]], keys: list[tuple[Any, ...]]) -> int:
    """How many rows at the head of a page are the last rows of the page before, in order,
    with at least one new row after them: rows that appeared before the cursor's place."""
    if not keys or keys[0] not in before:
        return 0
    n = len(before) - before.index(keys[0])
    return n if n < len(keys) and keys[:n] == before[-n:] else 0


def intents(result: dict[str, Any], limit: int) -> list[Row]:
    """top_intents' list: at most `limit`, each a string name and a count, count descending."""
    found = result.get("intents")
    if not isinstance(found, list):
        shown = "no intents" if found is None else f"intents that are {_kind(found)}"
        raise UpstreamBadAnswer(f"Voiceflow answered top_intents with {shown}, not a list")
    if len(found) > limit:
        raise UpstreamBadAnswer(
            f"Voiceflow answered top_intents with {len(found)} intents, more than the {limit} asked"
        )
    names: set[str] = set()
    previous: int | None = None
    for n, intent in enumerate(found, 1):
        where = f"Voiceflow answered top_intents with intent {n} of {len(found)}"
        if not isinstance(intent, dict):
            raise UpstreamBadAnswer(f"{where} being {_kind(intent)}, not an object")
        for field in ("name", "count"):
            if field not in intent:
                raise UpstreamBadAnswer(f"{where} missing {field}")
        if not isinstance(intent["name"], str):
            raise UpstreamBadAnswer(f"{where} having a name that is {_kind(intent['name'])}")
        count = intent["count"]
        if not _is_count(count):
            raise UpstreamBadAnswer(f"{where} having {_count_problem('count', count)}")
        if intent["name"] in names:
            raise UpstreamBadAnswer(f"{where} repeating an intent already listed")
        if previous is not None and count > previous:
            raise UpstreamBadAnswer(f"{where} out of order: counts must be descending")
        names.add(intent["name"])
        previous = count
    return found
