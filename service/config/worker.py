"""Which web worker of a host this process is. The parent (`service/workers.py`) tells each
worker its slot in an environment variable of its own: not a setting a person sets, so it is
not declared with them nor in the README's table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

WORKER_ENV = "VFAC_WORKER"  # "<index>/<of>", e.g. "1/4": set by the parent, read by a worker


@dataclass(frozen=True, slots=True)
class Worker:
    index: int  # its slot, 0 .. of-1; a restarted worker takes the slot of the one it replaces
    of: int  # processes serving this port on this host

    @property
    def marker(self) -> str:
        return f"{self.index}/{self.of}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Worker | None:
        """The slot the parent gave this process; None when no parent started it."""
        match = re.fullmatch(r"(\d+)/(\d+)", environ.get(WORKER_ENV, ""))
        if match is None:
            return None
        index, of = int(match[1]), int(match[2])
        return cls(index, of) if index < of else None


ALONE = Worker(0, 1)  # a process with no parent: the only one on its port
