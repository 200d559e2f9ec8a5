"""Logging: text on a terminal, JSON lines for machines, the request id on every line.

A request's id lives in a context variable, so every line logged while serving it —
including those of the upstream requests it causes, in tasks it starts — carries it.
Records go through a queue to a thread that formats and writes them: a slow stderr
never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import logging
import logging.handlers
import queue
import re
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any

import orjson

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s"

# The record's own attributes: anything else on it came through `extra=` and is logged.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "rid"}


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = REQUEST_ID.get()
        record.request_id = rid
        record.rid = f" [{rid}]" if rid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name != "request_id":
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


_NOTHING: Any = object()  # no item taken after a batch of access lines


class _Writer(logging.handlers.QueueListener):
    """The writer thread: log records are formatted here; access lines come ready-made and
    are written in batches (one write for all those waiting), so a busy process makes a
    write call per batch, not per request."""

    BATCH = 512

    def __init__(self, records: queue.SimpleQueue[Any], handler: logging.Handler) -> None:
        super().__init__(records, handler)
        self.records = records

    def stop(self) -> None:
        flush_access()  # the access lines still gathering on the loop go first
        super().stop()

    def handle(self, record: Any) -> None:
        if not isinstance(record, str):
            super().handle(record)
            return
        # `_NOTHING`, not None, while nothing else was taken: None is the stop sentinel.
        lines, after = [record], _NOTHING
        while len(lines) < self.BATCH:
            try:
                item = self.records.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, str):
                after = item  # a log record, or the stop sentinel: dealt with after these
                break
            lines.append(item)
        stream = self.handlers[0].stream  # type: ignore[attr-defined]
        stream.write("".join(lines))
        stream.flush()
        if after is self._sentinel:  # type: ignore[attr-defined]
            self.records.put_nowait(after)  # the monitor loop stops on it
        elif after is not _NOTHING:
            super().handle(after)


ACCESS_FLUSH_SECONDS = 0.02  # access lines wait at most this long to be handed over
ACCESS_BATCH = 512  # ... or until this many are waiting


class _Access:
    """Where access lines go once `configure` ran: gathered on the loop, and handed to the
    writer thread together, every ACCESS_FLUSH_SECONDS. One hand-over per line would wake
    the thread per request, and each wake takes the interpreter from the loop."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] | None = None
        self.json = False
        self.on = True
        self.pending: list[str] = []
        self._ms, self._second, self._stamp, self._local = -1, -1, "", ""
        self._json_stamp, self._text_stamp = "", ""

    def stamp(self, now: float) -> str:
        """The time as the JSON lines spell it."""
        self._tick(now)
        return self._json_stamp

    def local_stamp(self, now: float) -> str:
        """The time as the text lines spell it (logging's asctime: local time, ms)."""
        self._tick(now)
        return self._text_stamp

    def _tick(self, now: float) -> None:
        """Spell the time once a millisecond (a busy process writes many lines in one), the
        second's part once a second."""
        ms = int(now * 1000)
        if ms == self._ms:
            return
        self._ms, second = ms, ms // 1000
        if second != self._second:
            self._second = second
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._local = datetime.fromtimestamp(second).strftime("%Y-%m-%d %H:%M:%S")
        self._json_stamp = f"{self._stamp}.{ms % 1000:03d}+00:00"
        self._text_stamp = f"{self._local},{ms % 1000:03d}"


_ACCESS = _Access()
_access_logger = logging.getLogger("service.access")


def access_on() -> bool:
    """Whether access lines are written (LOG_LEVEL at INFO or below)."""
    if _ACCESS.queue is None:
        return _access_logger.isEnabledFor(logging.INFO)
    return _ACCESS.on


def access_line(message: str, fields: dict[str, Any]) -> None:
    """One request's access line (logger service.access, level INFO). It costs the hit
    path a line's formatting and a queue put, not a log record's whole journey: with
    configure() it goes straight to the writer thread."""
    target = _ACCESS.queue
    if target is None:  # logging not set up by us (tests, embedding): the usual way
        _access_logger.info(message, extra=fields)
        return
    if not _ACCESS.on:
        return
    rid = REQUEST_ID.get()
    if _ACCESS.json:
        head = {"ts": _ACCESS.stamp(time.time()), "level": "INFO", "logger": "service.access"}
        line = orjson.dumps({**head, "message": message, "request_id": rid, **fields})
        text = line.decode() + "\n"
    else:
        text = f"{_ACCESS.local_stamp(time.time())} INFO service.access [{rid}]: {message}\n"
    pending = _ACCESS.pending
    pending.append(text)
    if len(pending) >= ACCESS_BATCH:
        flush_access()
    elif len(pending) == 1:  # the first line waiting sets the time they are handed over
        try:
            asyncio.get_running_loop().call_later(ACCESS_FLUSH_SECONDS, flush_access)
        except RuntimeError:  # not on a loop: no timer to wait for
            flush_access()


def flush_access() -> None:
    """Hand the access lines waiting to the writer thread (one write for all of them)."""
    if _ACCESS.pending and _ACCESS.queue is not None:
        lines, _ACCESS.pending = _ACCESS.pending, []
        _ACCESS.queue.put("".join(lines))


def configure(level: str, fmt: str, stream: IO[str] | None = None) -> _Writer:
    """Log at `level` in `fmt` ("text", "json", or "auto": text on a terminal, else JSON).
    Returns the writer thread's listener (stopping it flushes; it is stopped at exit)."""
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "text" if out.isatty() else "json"
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    records: queue.SimpleQueue[Any] = queue.SimpleQueue()
    listener = _Writer(records, handler)
    front = logging.handlers.QueueHandler(records)
    front.addFilter(_WithRequestId())  # read in the logging task's context, not the thread's
    root = logging.getLogger()
    root.handlers[:] = [front]
    root.setLevel(level)
    _ACCESS.queue, _ACCESS.json = records, fmt == "json"
    _ACCESS.on = _access_logger.isEnabledFor(logging.INFO)
    listener.start()
    atexit.register(_stop, listener)
    return listener


def detach() -> None:
    """Access lines go the usual way again (after a test replaced the root's handlers back)."""
    _ACCESS.queue = None


def _stop(listener: logging.handlers.QueueListener) -> None:
    """Flush and stop, once: a listener already stopped (by its owner) has nothing left."""
    with contextlib.suppress(AttributeError):  # 3.11's stop() on a stopped listener
        listener.stop()
