"""The TypeScript client (clients/typescript): installed from its lock, its types compiled, and
its `node --test` suite run against the service in demo mode, started here."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.frontend.npm import CLIENT, npm_ci, run
from tests.processes import Process, start_service

# Demo mode (no VOICEFLOW_API_KEY, no REDIS_URL), open (no token): the deployment the committed
# openapi.json describes. A budget a cold month fits in within one request's wait.
DEMO = {"UPSTREAM_RATE_PER_SECOND": "50", "UPSTREAM_BURST": "20"}


@pytest.fixture(scope="module")
def client_installed() -> None:
    npm_ci(CLIENT)


@pytest.fixture(scope="module")
def demo() -> Iterator[Process]:
    service = start_service(DEMO)
    try:
        yield service
    finally:
        service.stop()


@pytest.mark.timeout(900)
def test_the_client_compiles(client_installed: None) -> None:
    """`tsc --noEmit` passes: the generated types, the client, and the tests that use them
    (which include misuses the compiler must reject)."""
    run(["npm", "run", "--silent", "typecheck"], CLIENT, 120)


@pytest.mark.timeout(900)
def test_the_node_suite_passes_against_the_demo_service(
    client_installed: None, demo: Process
) -> None:
    """`node --test`: the served document is the committed one and the committed types are
    generated from it; an overview, a compare, a 304 and a problem come back through the
    client; a conditional GET through node's fetch gets its 304; the helpers' arithmetic."""
    run(["npm", "run", "--silent", "build"], CLIENT, 120)
    files = sorted(str(p.relative_to(CLIENT)) for p in (CLIENT / "dist" / "test").glob("*.test.js"))
    assert files, "no compiled tests in dist/test"
    out = run(
        ["node", "--test", "--test-reporter=tap", *files], CLIENT, 300, {"VFAC_URL": demo.url}
    )
    passed = re.search(r"^# pass (\d+)$", out, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", out, re.MULTILINE)
    assert passed and failed, out[-3000:]
    assert int(failed[1]) == 0 and int(passed[1]) >= 13, out[-3000:]
