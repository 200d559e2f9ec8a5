"""The Store protocol over PostgreSQL (Supabase included), with asyncpg.

One table is the key space (migrate.py makes it): a row per key, with its expiry on the
database's clock, so every process agrees on what has expired. Expired rows are invisible
to every read and swept on a schedule, never on the hit path. Scripts run as their twins
in one transaction that first takes an advisory lock on the keys' hash tag (snapshot.py):
the token bucket, the Retry-After pause, leases and popularity are as atomic as on Redis.
Waiters are woken with LISTEN/NOTIFY on a connection of their own.

Commits do not wait for the WAL to reach disk (`synchronous_commit=off`): a crash of the
database may lose the last few milliseconds of cache writes, never its consistency.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeAlias, TypeVar

import asyncpg

from service.store.base import Errors, Watchers
from service.store.leases import ScriptedLeases
from service.store.migrate import SCHEMA, migrate
from service.store.script import Script, ScriptArg, as_argv
from service.store.snapshot import Row, Snapshot, hash_tag, last_wins, plain

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn: TypeAlias = "asyncpg.pool.PoolConnectionProxy[Any]"

TIMEOUT = 1.0  # seconds per statement (a script's lock wait included), and to connect
POOL_WAIT = 1.0  # seconds a burst queues for a connection before it queues again
SWEEP_EVERY = 60.0  # seconds between sweeps of expired rows
SWEEP_BATCH = 5000  # rows one sweep statement deletes: short transactions, no long locks
RELISTEN_AFTER = 1.0  # seconds before the listener reconnects after losing its connection

_LIVE = f"(expires_at IS NULL OR expires_at > {SCHEMA}.now_s())"
_GET = f"SELECT kind, value FROM {SCHEMA}.entries WHERE key = $1 AND {_LIVE}"
_ANY = f"{SCHEMA}.entries WHERE key = ANY($1::text[]) AND {_LIVE}"
_MGET = f"SELECT key, value FROM {_ANY} AND kind = 'b'"
_LEFT = f"SELECT key, expires_at - {SCHEMA}.now_s() AS left FROM {_ANY}"
_UPSERT = (
    f"INSERT INTO {SCHEMA}.entries (key, kind, value, expires_at)"
    f" SELECT k, d, v, {SCHEMA}.now_s() + t"
    " FROM unnest($1::text[], $2::text[], $3::bytea[], $4::float8[]) AS u(k, d, v, t)"
    " ON CONFLICT (key) DO UPDATE"
    " SET kind = excluded.kind, value = excluded.value, expires_at = excluded.expires_at"
)
_NOTIFY = "SELECT pg_notify($1, $2)"
_DELETE = f"DELETE FROM {SCHEMA}.entries WHERE key = ANY($1::text[])"
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_READ = f"SELECT key, kind, value, expires_at - {SCHEMA}.now_s() AS left FROM {_ANY} FOR UPDATE"
_SWEEP = (
    f"DELETE FROM {SCHEMA}.entries WHERE key IN (SELECT key FROM {SCHEMA}.entries"
    f" WHERE expires_at <= {SCHEMA}.now_s() ORDER BY expires_at LIMIT $1"
    " FOR UPDATE SKIP LOCKED)"
)


class PoolBusy(Exception):
    """Every connection of the pool stayed in use for its whole wait: this process is busy,
    which says nothing about the database."""


class PostgresStore(ScriptedLeases):
    kind = "postgres"
    degraded = False  # the database itself; FallbackStore is what degrades
    # Unreachable, shutting down, out of connections or disk, a read-only replica, slow.
    DOWN: ClassVar[Errors] = (
        OSError,
        asyncio.TimeoutError,
        asyncpg.InterfaceError,
        asyncpg.PostgresConnectionError,
        asyncpg.InternalClientError,  # still, on a fresh connection (see _on_conn)
        asyncpg.exceptions.OperatorInterventionError,
        asyncpg.exceptions.InsufficientResourcesError,
        asyncpg.exceptions.InvalidAuthorizationSpecificationError,
        asyncpg.exceptions.ReadOnlySQLTransactionError,
    )
    BUSY: ClassVar[Errors] = (PoolBusy,)
    REFUSED: ClassVar[Errors] = (asyncpg.PostgresError,)

    def __init__(
        self, dsn: str, channel: str, watchers: Watchers | None = None, pool_size: int = 10
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self.watchers = watchers or Watchers()
        self._size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._migrated = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ConnectionError("the PostgreSQL store has not started")
        return self._pool

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        pool = self.pool
        try:
            conn = await pool.acquire(timeout=POOL_WAIT)
        except TimeoutError:
            if pool.get_size() < pool.get_max_size():
                raise  # it was connecting that took too long: the database is slow or gone
            raise PoolBusy("no connection of the pool came free in time") from None
        try:
            yield conn
        except asyncpg.InternalClientError:
            conn.terminate()  # its protocol is broken: it never goes back to the pool
            raise
        finally:
            await pool.release(conn)

    async def _on_conn(self, command: Callable[[Conn], Awaitable[T]]) -> T:
        """`command` on a connection of the pool. One the database closed while it sat there
        (a restart, `pg_terminate_backend`, an idle timeout) can be handed out before asyncpg
        has seen its socket close, and fails its next command in the client, before sending
        anything (InternalClientError): it is dropped, and the command runs on another."""
        for _ in range(self._size):
            with contextlib.suppress(asyncpg.InternalClientError):
                async with self._conn() as conn:
                    return await command(conn)
        async with self._conn() as conn:
            return await command(conn)

    async def get(self, key: str) -> bytes | None:
        row = await self._on_conn(lambda conn: conn.fetchrow(_GET, key))
        return plain(key, None if row is None else (row["kind"], row["value"]))

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        rows = await self._on_conn(lambda conn: conn.fetch(_MGET, list(keys)))
        found = {row["key"]: bytes(row["value"]) for row in rows}
        return [found.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self.set_many([(key, value, ttl)])

    async def set_many(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        if not items:
            return
        items = last_wins(items)
        keys, values, ttls = (list(column) for column in zip(*items, strict=True))
        kinds = ["b"] * len(items)
        await self._on_conn(lambda conn: conn.execute(_UPSERT, keys, kinds, values, ttls))

    async def expires_in(self, keys: Sequence[str]) -> list[float | None]:
        if not keys:
            return []
        rows = await self._on_conn(lambda conn: conn.fetch(_LEFT, list(keys)))
        left = {row["key"]: math.inf if row["left"] is None else row["left"] for row in rows}
        return [left.get(key) for key in keys]

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._on_conn(lambda conn: conn.execute(_DELETE, list(keys)))

    async def notify(self, key: str) -> None:
        await self._on_conn(lambda conn: conn.execute(_NOTIFY, self._channel, key))

    def watch(self, key: str) -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return self.watchers.watch(key)

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        keys, argv = list(keys), as_argv(args)

        async def transaction(conn: Conn) -> Any:
            async with conn.transaction():
                if keys:
                    await conn.execute(_LOCK, hash_tag(keys[0]))
                rows = await conn.fetch(_READ, keys)
                space = Snapshot(
                    {r["key"]: Row(r["kind"], r["value"], r["left"]) for r in rows}, script.values
                )
                reply = script.twin(space, keys, argv)
                upserts, deleted = space.changes()
                if upserts:
                    await conn.execute(_UPSERT, *(list(c) for c in zip(*upserts, strict=True)))
                if deleted:
                    await conn.execute(_DELETE, deleted)
            return reply

        return await self._on_conn(transaction)

    async def ping(self) -> None:
        await self._on_conn(self._ping)

    async def _ping(self, conn: Conn) -> None:
        if not self._migrated:
            applied = await migrate(conn)
            if applied:
                log.info("postgresql schema %s: applied migrations %s", SCHEMA, applied)
            self._migrated = True
        await conn.fetchval("SELECT 1")

    async def drop_idle_connections(self) -> None:
        await self.pool.expire_connections()

    async def start(self) -> None:
        """Open the pool (lazily: a database down at start-up does not stop the process),
        bring the schema up to date, and start listening and sweeping."""
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._size,
            timeout=TIMEOUT,
            command_timeout=TIMEOUT,
            server_settings={
                "application_name": "vf-analytics-cache",
                "synchronous_commit": "off",
            },
        )
        self._tasks = [
            asyncio.create_task(self._listen(), name="postgres-listener"),
            asyncio.create_task(self._sweep(), name="postgres-sweeper"),
        ]
        await self.ping()  # raises one of DOWN when the database is down: degraded from start

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), TIMEOUT)
            except TimeoutError:
                self._pool.terminate()

    async def _listen(self) -> None:
        """One connection of its own, listening on the channel for as long as it lives."""
        while True:
            conn = None
            try:
                conn = await _connect(self._dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(functools.partial(_set, lost))
                await conn.add_listener(self._channel, self._wake)
                await lost.wait()
                log.warning("postgresql listener lost its connection; reconnecting")
            except self.DOWN as exc:
                # Waiters fall back to their own timeouts meanwhile; reconnect shortly.
                log.warning("postgresql listener cannot connect (%s); retrying", exc)
            finally:
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(RELISTEN_AFTER)

    def _wake(self, _conn: object, _pid: int, _channel: str, key: object) -> None:
        self.watchers.wake(str(key))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                await self.sweep()
            except (*self.DOWN, *self.BUSY, *self.REFUSED) as exc:
                log.warning("postgresql sweep of expired rows failed (%s); next one later", exc)

    async def sweep(self) -> int:
        """Delete expired rows, a batch at a time; how many went."""
        swept = 0
        while True:
            status = await self._on_conn(lambda conn: conn.execute(_SWEEP, SWEEP_BATCH))
            done = int(status.split()[-1])
            swept += done
            if done < SWEEP_BATCH:
                return swept


def _set(event: asyncio.Event, _conn: object) -> None:
    event.set()


async def _connect(dsn: str) -> asyncpg.Connection[Any]:
    """A connection; if the caller is cancelled meanwhile, the connection is closed once made
    (cancelled halfway, asyncpg could leave its socket open)."""
    connecting = asyncio.ensure_future(asyncpg.connect(dsn, timeout=TIMEOUT))
    try:
        return await asyncio.shield(connecting)
    except asyncio.CancelledError:
        connecting.add_done_callback(_terminate)
        raise


def _terminate(connecting: asyncio.Future[asyncpg.Connection[Any]]) -> None:
    if not connecting.cancelled() and connecting.exception() is None:
        connecting.result().terminate()
