"""The file store: the embedded mode's cache kept across restarts, in SQLite (WAL mode).

For one process on one host (`CACHE_DIR`): a developer's `make run` with a real Voiceflow key
keeps every fetched day and answer when it restarts. One table is the key space, as in the
PostgreSQL store, and scripts run as their twins in one transaction (snapshot.py). Every
SQLite call runs on one thread of its own, off the event loop, so calls never interleave.
A lock file keeps a second process out: waiters are woken within this process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from service.store.base import Errors, Watchers
from service.store.leases import ScriptedLeases
from service.store.script import Script, ScriptArg, as_argv
from service.store.snapshot import Row, Snapshot, last_wins, plain

T = TypeVar("T")

SWEEP_EVERY = 60.0  # seconds between sweeps of expired rows
FILE = "cache.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('b', 'j')),
    value BLOB NOT NULL,
    expires_at REAL  -- seconds since the epoch; NULL: never
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_expires_at ON entries (expires_at)
    WHERE expires_at IS NOT NULL;
"""
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_UPSERT = (
    "INSERT INTO entries (key, kind, value, expires_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE"
    " SET kind = excluded.kind, value = excluded.value, expires_at = excluded.expires_at"
)


class CacheDirInUse(RuntimeError):
    """Another process holds CACHE_DIR: the file store serves one process."""


class FileStore(ScriptedLeases):
    kind = "file"
    degraded = False
    # The disk full or the file unreadable: served from memory until it works again.
    DOWN: ClassVar[Errors] = (sqlite3.OperationalError, OSError)
    BUSY: ClassVar[Errors] = ()
    REFUSED: ClassVar[Errors] = (sqlite3.DatabaseError,)

    def __init__(self, directory: str, watchers: Watchers | None = None) -> None:
        self._dir = Path(directory)
        self.watchers = watchers or Watchers()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="vfac-file-store")
        self._db: sqlite3.Connection | None = None
        self._lock: int | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise sqlite3.OperationalError("the file store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, db)

    async def get(self, key: str) -> bytes | None:
        def get(db: sqlite3.Connection) -> Any:
            sql = f"SELECT kind, value FROM entries WHERE key = ? AND {_LIVE}"
            return db.execute(sql, (key, time.time())).fetchone()

        row = await self._call(get)
        return plain(key, row)

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []

        def mget(db: sqlite3.Connection) -> dict[str, bytes]:
            marks = ",".join("?" * len(keys))
            sql = f"SELECT key, value FROM entries WHERE key IN ({marks}) AND kind='b' AND {_LIVE}"
            return dict(db.execute(sql, (*keys, time.time())).fetchall())

        found = await self._call(mget)
        return [found.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.set_many([(key, value, ttl)])

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        if not items:
            return
        items = last_wins(items)

        def set_many(db: sqlite3.Connection) -> None:
            now = time.time()
            with db:  # one transaction
                db.executemany(_UPSERT, [(k, "b", v, now + ttl) for k, v, ttl in items])

        await self._call(set_many)

    async def expires_in(self, keys: Sequence[str]) -> list[float | None]:
        if not keys:
            return []

        def expires_in(db: sqlite3.Connection) -> dict[str, float]:
            now = time.time()
            marks = ",".join("?" * len(keys))
            sql = f"SELECT key, expires_at FROM entries WHERE key IN ({marks}) AND {_LIVE}"
            rows = db.execute(sql, (*keys, now)).fetchall()
            return {k: math.inf if at is None else at - now for k, at in rows}

        left = await self._call(expires_in)
        return [left.get(key) for key in keys]

    async def delete(self, *keys: str) -> None:
        if not keys:
            return

        def delete(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("DELETE FROM entries WHERE key = ?", [(k,) for k in keys])

        await self._call(delete)

    async def notify(self, key: str) -> None:
        self.watchers.wake(key)  # one process: its waiters are all here

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self.watchers.watch(key)

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        keys, argv = list(keys), as_argv(args)

        def run(db: sqlite3.Connection) -> Any:
            now = time.time()
            marks = ",".join("?" * len(keys))
            sql = f"SELECT key, kind, value, expires_at FROM entries WHERE key IN ({marks})"
            with db:
                db.execute("BEGIN IMMEDIATE")  # the write lock first: read and write as one
                rows = db.execute(f"{sql} AND {_LIVE}", (*keys, now)).fetchall()
                space = Snapshot(
                    {k: Row(kind, v, None if at is None else at - now) for k, kind, v, at in rows},
                    script.values,
                )
                reply = script.twin(space, keys, argv)
                upserts, deleted = space.changes()
                db.executemany(
                    _UPSERT,
                    [(k, kind, v, None if t is None else now + t) for k, kind, v, t in upserts],
                )
                db.executemany("DELETE FROM entries WHERE key = ?", [(k,) for k in deleted])
            return reply

        return await self._call(run)

    async def ping(self) -> None:
        await self._call(lambda db: db.execute("SELECT 1").fetchone())

    async def drop_idle_connections(self) -> None:
        return None  # one connection, never idle for long

    async def start(self) -> None:
        """Open (or make) CACHE_DIR's database, holding its lock; raises CacheDirInUse when
        another process holds it."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._open)
        self._sweeper = asyncio.create_task(self._sweep(), name="file-store-sweeper")

    def _open(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        lock = os.open(self._dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(lock, 32).decode(errors="replace").strip() or "?"
            os.close(lock)
            raise CacheDirInUse(
                f"CACHE_DIR={self._dir} is in use by another process (pid {holder}); "
                "the file store serves one process: stop it, or give this one another CACHE_DIR"
            ) from None
        os.ftruncate(lock, 0)
        os.write(lock, str(os.getpid()).encode())
        self._lock = lock
        db = sqlite3.connect(self._dir / FILE, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable across a crash of this process
        db.executescript(_SCHEMA)
        self._db = db

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            with contextlib.suppress(*self.DOWN):
                await self.sweep()

    async def sweep(self) -> int:
        """Delete expired rows; how many went."""

        def sweep(db: sqlite3.Connection) -> int:
            with db:
                sql = "DELETE FROM entries WHERE expires_at <= ?"
                return db.execute(sql, (time.time(),)).rowcount

        return await self._call(sweep)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=False)
        if self._lock is not None:
            os.close(self._lock)  # and with it the lock
            self._lock = None
