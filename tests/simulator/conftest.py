"""The simulator's tests talk to a simulator app alone, not to the service."""

from __future__ import annotations

import pytest
from pytest_aiohttp import AiohttpClient

from tests.simulator.helpers import Client, make_client


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    """A simulator on the fixed clock that knows both test keys (not the service's client)."""
    return (await make_client(aiohttp_client))[0]
