"""Counting the upstream requests a piece of work causes, for reports (the warmer's runs).

Counters nest: a request counts for every open tally of the task that makes it, and a
task started inside a tally (a flight) counts for it too, since tasks copy their context.
A caller that joins a flight another started was not there to count its requests; the
flight hands its total over when it ends (see SingleFlight), so a report counts every
request its work needed, whoever sent it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_open: contextvars.ContextVar[tuple[list[int], ...]] = contextvars.ContextVar("tallies", default=())


@contextlib.contextmanager
def tally_requests() -> Iterator[list[int]]:
    """Count the upstream requests made inside (and in tasks started inside): tally[0]."""
    tally, token = start()
    try:
        yield tally
    finally:
        _open.reset(token)


def start() -> tuple[list[int], contextvars.Token[tuple[list[int], ...]]]:
    """tally_requests without a context manager's cost, for the hit path: a tally and the
    token that `stop` closes it with."""
    tally = [0]
    return tally, _open.set((*_open.get(), tally))


def stop(token: contextvars.Token[tuple[list[int], ...]]) -> None:
    _open.reset(token)


def open_here() -> tuple[list[int], ...]:
    """The tallies open in this context (a flight remembers those it started under)."""
    return _open.get()


def count(n: int = 1, *, counted: tuple[list[int], ...] = ()) -> None:
    """Add `n` requests to every tally open here but those in `counted` (which saw them)."""
    for tally in _open.get():
        if not any(tally is seen for seen in counted):
            tally[0] += n
