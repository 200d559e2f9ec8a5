"""How a SQL store keeps a script's values: each comes back as the twin stored it, and only as
a type its script names."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from service.store.snapshot import Row, Snapshot, hash_tag, read, spell


class _Pair(NamedTuple):
    n: float
    holder: bytes


def test_values_round_trip_as_stored() -> None:
    types = {"_Pair": _Pair}
    for value in (
        b"raw \x00\xff bytes",
        {"member": 1.5, "other": 2},
        _Pair(0.1 + 0.2, b"\x00holder"),
        {"nested": {"d": 1}},
    ):
        assert read(*spell(value), types) == value
    assert spell(b"answer") == ("b", b"answer")  # bytes as they are: a plain GET reads them


def test_a_type_the_script_does_not_name_is_refused() -> None:
    kind, value = spell(_Pair(1.0, b"x"))
    with pytest.raises(TypeError, match="no type this script keeps"):
        read(kind, value, {})
    with pytest.raises(TypeError, match="no SQL store can keep"):
        spell(object())


def test_a_snapshot_records_what_to_write_back() -> None:
    space = Snapshot({"a": Row("b", b"1", 5.0), "b": Row("b", b"2", None)}, ())
    assert space.get("a") == b"1" and space.ttl("a") == 5.0 and space.ttl("b") is None
    space.put("c", {"m": 1.0}, 10.0)
    space.delete("b")
    space.put("b", b"again")
    space.delete("c")
    upserts, deleted = space.changes()
    assert upserts == [("b", "b", b"again", None)] and deleted == ["c"]


def test_hash_tags_as_redis_cluster_reads_them() -> None:
    assert hash_tag("vfac:demo:{p1:sessions}:day:20250101") == "p1:sessions"
    assert hash_tag("plain") == "plain" and hash_tag("a{}b{c}") == "a{}b{c}"
