"""Fixtures of the fault matrix with real processes: the simulator and a clean reference
service as processes (a Redis of the test's own is `own_redis`, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.fleet import reference_env
from tests.faults.harness import KEY, Reference
from tests.processes import Process, start_service, start_simulator


@pytest.fixture(scope="module")
def sim_proc() -> Iterator[Process]:
    """The simulator as a process of its own (`sim`, elsewhere, runs in the test's loop)."""
    proc = start_simulator(KEY)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def reference(sim_proc: Process) -> Iterator[Reference]:
    """A fresh service on its in-process store, over the same (deterministic) simulator."""
    proc = start_service(reference_env(sim_proc))
    yield Reference(proc.url)
    proc.stop()
