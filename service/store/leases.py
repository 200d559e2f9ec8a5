"""Leases over several keys in one round trip, as Scripts, so every store shares them.

A lease is a string key holding its holder's token with a TTL: taken with SET NX, and only
the holder's token may extend or delete it. Single flight and the warmer's leader election
build on these three operations. Keys of one call share a hash tag (Redis Cluster).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from service.store.base import ms
from service.store.script import Script, ScriptArg, Space

_NO_EXPIRY_LEFT = 1  # ms a waiter is told for a lease without TTL: Lua's max(1, PTTL = -1)


def _acquire(space: Space, keys: Sequence[str], argv: Sequence[str]) -> list[int]:
    token, ttl = argv[0].encode(), int(argv[1]) / 1000
    got = []
    for key in keys:
        if space.get(key) is None:
            space.put(key, token, ttl)
            got.append(0)
        else:
            left = space.ttl(key)
            got.append(_NO_EXPIRY_LEFT if left is None else max(1, int(left * 1000)))
    return got


def _held(space: Space, keys: Sequence[str], token: str) -> list[str]:
    """The keys whose lease holds `token` (compared as Lua compares GET with ARGV[1])."""
    return [key for key in keys if space.get(key) == token.encode()]


def _renew(space: Space, keys: Sequence[str], argv: Sequence[str]) -> int:
    held = _held(space, keys, argv[0])
    for key in held:
        space.put(key, argv[0].encode(), int(argv[1]) / 1000)
    return len(held)


def _release(space: Space, keys: Sequence[str], argv: Sequence[str]) -> int:
    held = _held(space, keys, argv[0])
    for key in held:
        space.delete(key)
    return len(held)


# Per key: 0 where the caller now holds it, else the ms the other holder has left.
ACQUIRE = Script(
    "lease.acquire",
    """
local got = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    got[i] = 0
  else
    got[i] = math.max(1, redis.call('PTTL', key))
  end
end
return got
""",
    _acquire,
)
# Renew and release differ only in what they do to a lease the token still holds.
_IF_HELD = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then {action}; n = n + 1 end
end
return n
"""
RENEW = Script("lease.renew", _IF_HELD.format(action="redis.call('PEXPIRE', key, ARGV[2])"), _renew)
RELEASE = Script("lease.release", _IF_HELD.format(action="redis.call('DEL', key)"), _release)


class ScriptedLeases(ABC):
    """The Store's lease methods, over its `run`: a store that runs scripts has leases."""

    @abstractmethod
    async def run(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any: ...

    async def acquire(self, keys: Sequence[str], token: str, ttl: float) -> list[float]:
        left_ms = await self.run(ACQUIRE, keys, [token, ms(ttl)])
        return [left / 1000 for left in left_ms]

    async def renew(self, keys: Sequence[str], token: str, ttl: float) -> int:
        return int(await self.run(RENEW, keys, [token, ms(ttl)]))

    async def release(self, keys: Sequence[str], token: str) -> int:
        return int(await self.run(RELEASE, keys, [token]))
