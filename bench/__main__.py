"""`python -m bench [name ...]`: run the benchmarks (all by default) and print their figures."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "upstream",
    "hitpath",
    "workload",
    "warmer",
    "exports",
    "probing",
    "ratelimit",
    "dashboard",
    "fairshare",
    "loopstall",
    "soak",
    "workers",
    "scale",
    "stores",
)


def main(argv: list[str]) -> None:
    names = argv or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        print(f"\n== {name} ==")
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
