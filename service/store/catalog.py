"""Catalogues: what was stored under keys that cannot be listed, with when it expires.

The store has no SCAN or KEYS (on Redis Cluster they see one node only, and they are slow
everywhere), so whatever must later be found again — an invalidation drops every answer of
a project — is recorded, when it is stored, in a sorted set: member -> the time (epoch
seconds) until which it may exist. An entry is a hint, never a promise: what it names may
have expired or been dropped already, so readers check before they count.

Bounded twice: an entry leaves once its time has passed, and past `keep` entries the ones
expiring soonest go first; the set itself expires with its last entry. Both operations are
Scripts over one key (one Redis Cluster slot).
"""

from __future__ import annotations

from collections.abc import Sequence

from service.store.base import Store
from service.store.script import Script, ScriptArg, Space


async def record(
    store: Store, key: str, entries: Sequence[tuple[str, int]], now: int, keep: int
) -> None:
    """Add (member, expires at) entries; an entry already there keeps the later time."""
    if not entries:
        return
    args: list[ScriptArg] = [now, keep]
    for member, expires in entries:
        args += [member, expires]
    await store.run(RECORD, [key], args)


async def live(store: Store, key: str, now: int) -> list[str]:
    """The members whose time has not passed, soonest expiring first (ties by name)."""
    return [m.decode() for m in await store.run(LIVE, [key], [now])]


def _entries(space: Space, key: str) -> dict[str, int]:
    value = space.get(key)
    return value if isinstance(value, dict) else {}


def _order(item: tuple[str, int]) -> tuple[int, bytes]:
    return item[1], item[0].encode()  # a sorted set's order: score, then member bytes


def _record_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> int:
    (key,) = keys
    now, keep = int(argv[0]), int(argv[1])
    entries = _entries(space, key)
    for member, expires in zip(argv[2::2], argv[3::2], strict=True):
        entries[member] = max(entries.get(member, int(expires)), int(expires))
    kept = sorted(((m, s) for m, s in entries.items() if s > now), key=_order)
    kept = kept[max(0, len(kept) - keep) :]  # ZREMRANGEBYRANK drops the lowest
    if not kept:
        space.delete(key)  # Redis keeps no empty sorted set
        return 0
    space.put(key, dict(kept), kept[-1][1] - now)
    return len(kept)


def _live_twin(space: Space, keys: Sequence[str], argv: Sequence[str]) -> list[bytes]:
    now = int(argv[0])
    ordered = sorted(_entries(space, keys[0]).items(), key=_order)
    return [m.encode() for m, s in ordered if s > now]


# KEYS: the catalogue. ARGV: now, keep, then member/expiry pairs (whole seconds, so a score
# reads back exactly). Scores are passed to ZADD as the strings received, never through a
# Lua number (which redis.call would print with 14 digits). Returns the entries kept.
RECORD = Script(
    "catalog.record",
    """
for i = 3, #ARGV, 2 do
  local old = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not old or tonumber(old) < tonumber(ARGV[i + 1]) then
    redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[1], (tonumber(last[2]) - tonumber(ARGV[1])) * 1000)
return redis.call('ZCARD', KEYS[1])
""",
    _record_twin,
)
# KEYS: the catalogue. ARGV: now. The members still live, soonest expiring first.
LIVE = Script(
    "catalog.live",
    """
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
""",
    _live_twin,
)
