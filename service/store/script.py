"""Scripts: an atomic piece of logic over a few keys, written once for each store.

What must read and write several keys at once (a token bucket, decaying scores, leases)
is a Lua script on Redis. The in-process store cannot run Lua, so each script carries a
twin: a plain function implementing the same algorithm over the memory key space. The
store runs one or the other; the caller never knows which, so it converts results once.

The twin sees exactly what the Lua sees — its keys, and its arguments as strings, since
Redis hands ARGV to Lua as strings — and answers in the shapes a Lua reply arrives in
through redis-py: int for a number (Lua truncates fractions), bytes for a string, a list
for a table, None for nil. Stores key no state on a script but its identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

ScriptArg = str | int | float  # what redis-py can send as ARGV (bool is refused there)


class Space(Protocol):
    """The memory key space as a twin sees it: Python values with an optional expiry.

    String keys hold bytes, as in Redis (so a plain get of them reads the same); hashes and
    sorted sets hold whatever Python value the twin chooses, each twin reading only its own.
    """

    def get(self, key: str) -> object | None:
        """The live value at `key`; None when absent or expired."""

    def put(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store `value`; it expires after `ttl` seconds, or never with None."""

    def delete(self, key: str) -> None:
        """Remove `key`, whatever its value (absent is fine)."""

    def ttl(self, key: str) -> float | None:
        """Seconds `key` has left; None when absent or without expiry."""


Twin = Callable[[Space, Sequence[str], Sequence[str]], Any]


@dataclass(frozen=True, eq=False, slots=True)
class Script:
    """A Lua script and its in-memory twin; keyed by identity (eq=False keeps it hashable
    by object), so each store registers it once."""

    name: str  # in logs and test failures, which need not show the source
    lua: str = field(repr=False)
    twin: Twin = field(repr=False)
    # The NamedTuples the twin keeps in its keys: a SQL store (snapshot.py) reads back
    # these types, and no other.
    values: tuple[type, ...] = field(default=(), repr=False)


def as_argv(args: Sequence[ScriptArg]) -> list[str]:
    """The arguments as Lua receives them: redis-py spells an int with str() and a float
    with repr(), and Python 3's str() of a float is its repr()."""
    return [arg if isinstance(arg, str) else str(arg) for arg in args]
