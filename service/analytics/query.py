"""The request body: parsed, validated and made canonical (one question, one cache key)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson

from service.analytics.timezones import non_whole_hour_offset
from service.errors import ValidationError
from service.identifiers import PROJECT_ID_RE, canonical_zone

DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

EXPORT_FORMATS = ("csv", "pdf")
PAGE_SIZES = ("A4", "Letter")

EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)  # Voiceflow has no data outside
QUERY_MEMO = 4096  # distinct request bodies remembered...
MEMO_MAX_BODY = 512  # ...each at most this long, so the memo stays under 2 MiB

_COMMON = {"project_id", "start", "end", "tz", "environment_id"}
_EXPORT = _COMMON | {"format", "page_size"}


@dataclass(frozen=True, slots=True)
class Query:
    """A validated question about one project over local dates start..end in tz."""

    project_id: str
    start: date
    end: date
    tz: str = "UTC"
    environment_id: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Query:
        """The period of the same length ending the day before start (no overlap)."""
        span = timedelta(days=self.days)
        return Query(
            self.project_id,
            self.start - span,
            self.start - timedelta(days=1),
            self.tz,
            self.environment_id,
        )

    @classmethod
    def from_canonical(cls, text: str) -> Query:
        """The question back from its canonical spelling (popularity members carry it)."""
        project_id, start, end, tz, env = text.split("|")
        return cls(
            project_id,
            date.fromisoformat(start),
            date.fromisoformat(end),
            tz,
            None if env == "*" else env,
        )

    def canonical(self) -> str:
        """One spelling per question: the cache key's identity part."""
        return _canonical(self.project_id, self.start, self.end, self.tz, self.environment_id)


@functools.lru_cache(maxsize=QUERY_MEMO)
def _canonical(project_id: str, start: date, end: date, tz: str, env: str | None) -> str:
    # Remembered: a hit asks for it twice (the cache key, the popularity bump).
    return "|".join((project_id, start.isoformat(), end.isoformat(), tz, env or "*"))


@dataclass(frozen=True, slots=True)
class ExportQuery:
    query: Query
    format: str
    page_size: str = "A4"


def parse_json(raw: bytes) -> Any:
    """JSON from a request body; 400 naming `body` when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(
            f"the body is not valid JSON ({exc.msg} at position {exc.pos})", field="body"
        ) from None


def parse_query_bytes(raw: bytes, max_days: int) -> Query:
    """parse_query of a raw JSON body, remembered: dashboards repeat the same few bodies, and
    a repeat then skips decoding and validation. Rejections and long bodies are not kept."""
    if len(raw) > MEMO_MAX_BODY:
        return parse_query(parse_json(raw), max_days)
    return _remembered(raw, max_days)


@functools.lru_cache(maxsize=QUERY_MEMO)
def _remembered(raw: bytes, max_days: int) -> Query:
    return parse_query(parse_json(raw), max_days)


def parse_query_params(pairs: tuple[tuple[str, str], ...], max_days: int) -> Query:
    """The same question asked as query parameters (GET): the same fields, rules and 400s as
    a body, so the same canonical question and cache key. A parameter given twice is a 400
    naming it. Remembered like bodies, when the parameters are short."""
    if sum(len(k) + len(v) for k, v in pairs) > MEMO_MAX_BODY:
        return _params(pairs, max_days)
    return _remembered_params(pairs, max_days)


@functools.lru_cache(maxsize=QUERY_MEMO)
def _remembered_params(pairs: tuple[tuple[str, str], ...], max_days: int) -> Query:
    return _params(pairs, max_days)


def _params(pairs: tuple[tuple[str, str], ...], max_days: int) -> Query:
    fields = dict(pairs)
    if len(fields) < len(pairs):
        twice = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise ValidationError(f"the query parameter {twice} is given more than once", field=twice)
    return parse_query(fields, max_days)


def parse_query(body: Any, max_days: int) -> Query:
    """Validate an overview/compare body; ValidationError names the field and the rule."""
    _check_fields(body, _COMMON)
    return _query(body, max_days)


def parse_export(body: Any, max_days: int) -> ExportQuery:
    _check_fields(body, _EXPORT)
    fmt = body.get("format")
    if fmt is None:
        raise ValidationError("format is required: one of csv, pdf", field="format")
    if fmt not in EXPORT_FORMATS:
        raise ValidationError("format must be one of csv, pdf", field="format")
    page_size = body.get("page_size", "A4")
    if page_size not in PAGE_SIZES:
        raise ValidationError("page_size must be one of A4, Letter", field="page_size")
    return ExportQuery(_query(body, max_days), fmt, page_size)


def check_object(body: Any, allowed: set[str]) -> None:
    """A JSON object with no field but `allowed`, or a 400 naming the first stray field."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object", field="body")
    extra = sorted(set(body) - allowed)
    if extra:
        raise ValidationError(
            f"unknown field {extra[0]!r}; allowed: {', '.join(sorted(allowed))}", field=extra[0]
        )


def _check_fields(body: Any, allowed: set[str]) -> None:
    check_object(body, allowed)
    for name in ("project_id", "start", "end"):
        if name not in body:
            raise ValidationError(f"{name} is required", field=name)


def _query(body: dict[str, Any], max_days: int) -> Query:
    project_id = body["project_id"]
    if not isinstance(project_id, str) or not PROJECT_ID_RE.fullmatch(project_id):
        raise ValidationError(
            "project_id must be 1-64 characters of A-Z, a-z, 0-9, _ or -", field="project_id"
        )
    start, end = _date(body, "start"), _date(body, "end")
    if end < start:
        raise ValidationError("end must be on or after start", field="end")
    days = (end - start).days + 1
    if days > max_days:
        raise ValidationError(
            f"the range is {days} days; at most {max_days} are allowed", field="end"
        )
    tz = _tz(body.get("tz", "UTC"), start, end)
    env = body.get("environment_id")
    if env is not None and (not isinstance(env, str) or not PROJECT_ID_RE.fullmatch(env)):
        raise ValidationError(
            "environment_id must be null or 1-64 characters of A-Z, a-z, 0-9, _ or -",
            field="environment_id",
        )
    return Query(project_id, start, end, tz, env)


def _date(body: dict[str, Any], name: str) -> date:
    return parse_date(body[name], name)


def parse_date(value: Any, name: str) -> date:
    """A date as the API takes one (YYYY-MM-DD, 2000..2099), or a 400 naming `name`."""
    if not isinstance(value, str) or not DATE_RE.fullmatch(value):
        raise ValidationError(f"{name} must be a date as YYYY-MM-DD", field=name)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} is not a calendar date: {value}", field=name) from None
    if not EARLIEST <= day <= LATEST:
        raise ValidationError(f"{name} must be between {EARLIEST} and {LATEST}", field=name)
    return day


def _tz(value: Any, start: date, end: date) -> str:
    if not isinstance(value, str):
        raise ValidationError(
            "tz must be an IANA time zone name such as Europe/Helsinki", field="tz"
        )
    name = canonical_zone(value)
    if name is None:
        raise ValidationError(f"tz {value[:64]!r} is not a known IANA time zone", field="tz")
    bad = non_whole_hour_offset(name, start, end)
    if bad is not None:
        raise ValidationError(
            f"tz {name} has the offset {bad} within the range; Voiceflow data is hourly, so "
            "only zones whose offsets are whole hours over the range are supported",
            field="tz",
        )
    return name
