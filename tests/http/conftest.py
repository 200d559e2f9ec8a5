"""Fixtures of the HTTP tests: the logs as LOG_FORMAT=json writes them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from service import logs


class JsonLogs:
    """The root logger writing JSON lines into a buffer, as LOG_FORMAT=json does."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.listener = logs.configure("INFO", "json", self.out)

    def records(self) -> list[dict[str, Any]]:
        """The lines written so far (the writer thread drains its queue when stopped)."""
        self.listener.stop()
        self.listener.start()
        return [orjson.loads(line) for line in self.out.getvalue().splitlines()]


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    captured = JsonLogs()
    try:
        yield captured
    finally:
        captured.listener.stop()
        logs.detach()
        root.handlers[:] = handlers
        root.setLevel(level)
