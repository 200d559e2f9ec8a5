"""Scripts on a SQL store: a script's keys read in one query, its twin run over them, and
what it changed written back, all in one transaction that holds the keys' lock.

Redis runs a script's Lua atomically; a SQL database cannot run the Python twin inside it,
but a transaction that first takes a lock on the keys' hash tag, reads them, and writes
back what the twin changed is just as atomic for every other script on those keys (each
takes the same lock first). One algorithm per script, then, shared by the in-process store,
the file store and PostgreSQL: only Redis runs the Lua.

Values leave Python here, so each has a spelling: bytes as they are (a plain GET reads them),
anything else a twin keeps (a sorted set's dict, a bucket's NamedTuple) as tagged JSON. A
NamedTuple is read back only as a type its Script names in `values`: nothing stored can
make this process build any other type.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson

BYTES, JSON = "b", "j"  # a row's kind: raw bytes, or a twin's value as tagged JSON


class Row(NamedTuple):
    """One key as a SQL store holds it: its kind, its spelled value, and the seconds it has
    left (None: it never expires)."""

    kind: str
    value: bytes
    left: float | None


def spell(value: object) -> tuple[str, bytes]:
    """A twin's value as a row's kind and bytes."""
    if isinstance(value, bytes):
        return BYTES, value
    return JSON, orjson.dumps(_tagged(value))


def read(kind: str, value: bytes, types: Mapping[str, type]) -> object:
    """A row's value back as the twin stored it; `types`: the NamedTuples it may hold."""
    if kind == BYTES:
        return bytes(value)
    return _untagged(orjson.loads(value), types)


def plain(key: str, row: tuple[str, bytes] | None) -> bytes | None:
    """A GET's answer from a (kind, value) row: its bytes, None when absent. A script's value
    is refused, as Redis answers a GET of a hash (a caller's bug, not a miss)."""
    if row is None:
        return None
    kind, value = row
    if kind != BYTES:
        raise TypeError(f"WRONGTYPE: {key} holds a script's value, not bytes")
    return bytes(value)


def _tagged(value: object) -> Any:
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {"t": type(value).__name__, "v": [_tagged(v) for v in value]}
    if isinstance(value, dict):
        return {"d": {str(k): _tagged(v) for k, v in value.items()}}
    if isinstance(value, (int, float, str)) or value is None:
        return value
    raise TypeError(f"a script stored a {type(value).__name__}, which no SQL store can keep")


def _untagged(value: Any, types: Mapping[str, type]) -> Any:
    if not isinstance(value, dict):
        return value
    if "b" in value:
        return base64.b64decode(value["b"])
    if "d" in value:
        return {k: _untagged(v, types) for k, v in value["d"].items()}
    cls = types.get(value["t"])
    if cls is None:
        raise TypeError(f"a stored {value['t']} is no type this script keeps")
    return cls(*(_untagged(v, types) for v in value["v"]))


def hash_tag(key: str) -> str:
    """What Redis Cluster hashes of a key: the text inside its first {...}, when not empty,
    else the whole key. A script's keys share it, so locking it locks them all."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


class Snapshot:
    """The Space a twin runs in on a SQL store: its keys as read when the transaction took
    their lock; what it puts and deletes is kept for the transaction to write back. Time
    stands still inside, as it does inside a Lua script."""

    def __init__(self, rows: Mapping[str, Row], types: Iterable[type]) -> None:
        names = {cls.__name__: cls for cls in types}
        self._values: dict[str, tuple[object, float | None]] = {
            key: (read(row.kind, row.value, names), row.left) for key, row in rows.items()
        }
        self.written: dict[str, tuple[object, float | None]] = {}
        self.deleted: set[str] = set()

    def get(self, key: str) -> object | None:
        item = self._values.get(key)
        return None if item is None else item[0]

    def put(self, key: str, value: object, ttl: float | None = None) -> None:
        self._values[key] = self.written[key] = (value, ttl)
        self.deleted.discard(key)

    def delete(self, key: str) -> None:
        self._values.pop(key, None)
        self.written.pop(key, None)
        self.deleted.add(key)

    def ttl(self, key: str) -> float | None:
        item = self._values.get(key)
        return None if item is None else item[1]

    def changes(self) -> tuple[list[tuple[str, str, bytes, float | None]], list[str]]:
        """What to write back: rows (key, kind, value, ttl) to upsert, and keys to delete."""
        upserts = [(key, *spell(value), ttl) for key, (value, ttl) in self.written.items()]
        return upserts, sorted(self.deleted)


def last_wins(items: Sequence[tuple[str, bytes, float]]) -> list[tuple[str, bytes, float]]:
    """set_many's items with each key once, its last value kept (as Redis applies them in
    order); one SQL statement may not write a row twice."""
    return list({key: (key, value, ttl) for key, value, ttl in items}.values())
