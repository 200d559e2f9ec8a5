"""Tokens scoped to projects: 403 for a project a token may not read, before any cache."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PROJECT, body

OTHER = "7a912f08e83f76001b218691"
ALICE, OPS = "alice-token-0123456789", "ops-token-0123456789"
TOKENS = f"alice={ALICE}:{PROJECT}; ops={OPS}:*"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("store_kind", ["redis"])
@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/api/analytics/overview", {}),
        ("/api/analytics/compare", {}),
        ("/api/export", {"format": "csv"}),
    ],
)
async def test_a_token_reads_its_projects_and_gets_403_for_others(
    make_client: Any, path: str, extra: dict[str, Any]
) -> None:
    client = await make_client(API_TOKENS=TOKENS)
    # The other project is cached first, by a token that may read it...
    warm = await client.post(path, json=body(OTHER, **extra), headers=bearer(OPS))
    assert warm.status == 200
    # ...and still refused to one that may not: the check comes before any cache.
    refused = await client.post(path, json=body(OTHER, **extra), headers=bearer(ALICE))
    assert refused.status == 403
    assert refused.content_type == "application/problem+json"
    assert "X-Cache" not in refused.headers
    problem = await refused.json()
    assert problem["field"] == "project_id" and "'alice'" in problem["detail"]
    assert ALICE not in await refused.text()
    mine = await client.post(path, json=body(PROJECT, **extra), headers=bearer(ALICE))
    assert mine.status == 200
    unknown = await client.post(path, json=body(PROJECT, **extra), headers=bearer("x" * 20))
    assert unknown.status == 401


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_the_contract_is_public_and_the_warmer_status_needs_every_project(
    make_client: Any,
) -> None:
    client = await make_client(API_TOKENS=TOKENS)
    assert (await client.get("/api/openapi.json")).status == 200
    scoped = await client.get("/api/warmer/status", headers=bearer(ALICE))
    assert scoped.status == 403 and "every project" in (await scoped.json())["detail"]
    assert (await client.get("/api/warmer/status", headers=bearer(OPS))).status == 200
    assert (await client.get("/api/warmer/status")).status == 401
