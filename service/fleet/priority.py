"""Whose work an upstream request is: a user's (someone is waiting for it now) or only
background work (a stale refresh, the warmer, a fetch whose requester stopped waiting).

A priority is either fixed (a user's request; `background()`) or derived from who is
waiting: a flight is at user priority while any of its waiters is, and falls back to
background as soon as none is. So a user who joins a fetch the warmer started raises it
to user priority at its next token, and a fetch whose requester gave up goes on behind
the users' work instead of being thrown away. The budget reads it before every token.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections import Counter
from collections.abc import Iterator


class Priority:
    def __init__(self, user: bool | None = None, name: str | None = None, client: str = "") -> None:
        self._fixed = user  # None: derived from the waiters
        self._name = name or ("user" if user else "background")
        self._client = client  # a user's: the API token's name ("" when there is one token)
        self._waiters: Counter[Priority] = Counter()

    @property
    def fixed(self) -> bool:
        """Whether this priority can never change (a user's request, or background work)."""
        return self._fixed is not None

    def is_user(self) -> bool:
        if self._fixed is not None:
            return self._fixed
        return any(waiter.is_user() for waiter in self._waiters)

    def clients(self) -> frozenset[str]:
        """The users this work is for now (queue.py shares turns fairly between them)."""
        if self._fixed is not None:
            return frozenset((self._client,)) if self._fixed else frozenset()
        return frozenset().union(*(waiter.clients() for waiter in self._waiters))

    def label(self) -> str:
        """For metrics: user; else warm when the warmer waits for it; else background."""
        if self._fixed is not None:
            return self._name
        if self.is_user():
            return "user"
        warm = any(waiter.label() == "warm" for waiter in self._waiters)
        return "warm" if warm else "background"

    @contextlib.contextmanager
    def waited_on_by(self, waiter: Priority) -> Iterator[None]:
        """While open, `waiter` counts among those waiting for this work."""
        self._waiters[waiter] += 1
        try:
            yield
        finally:
            self._let_go(waiter)

    def hold(self, waiter: Priority, seconds: float) -> None:
        """Count `waiter` among those waiting for the next `seconds`."""
        self._waiters[waiter] += 1
        asyncio.get_running_loop().call_later(seconds, self._let_go, waiter)

    def _let_go(self, waiter: Priority) -> None:
        self._waiters[waiter] -= 1
        if not self._waiters[waiter]:
            del self._waiters[waiter]

    def __repr__(self) -> str:
        return f"Priority({'user' if self.is_user() else 'background'})"


USER = Priority(user=True)  # a request served to a person: the default
BACKGROUND = Priority(user=False)
WARM = Priority(user=False, name="warm")  # the warmer's work: background, counted apart

_current: contextvars.ContextVar[Priority] = contextvars.ContextVar("priority", default=USER)


@functools.cache
def user(client: str) -> Priority:
    """The priority of a request made with the API token named `client`."""
    return Priority(user=True, client=client)


def current() -> Priority:
    return _current.get()


@contextlib.contextmanager
def running_as(priority: Priority) -> Iterator[None]:
    """Upstream requests made inside (and in tasks started inside) go at `priority`."""
    token = _current.set(priority)
    try:
        yield
    finally:
        _current.reset(token)


def background() -> contextlib.AbstractContextManager[None]:
    """Upstream requests made inside (and in tasks started inside) count as background."""
    return running_as(BACKGROUND)


def warming() -> contextlib.AbstractContextManager[None]:
    """The warmer's work: background priority, labelled warm in the metrics."""
    return running_as(WARM)


def is_background() -> bool:
    return not current().is_user()
