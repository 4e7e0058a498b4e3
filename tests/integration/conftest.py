"""The service in-process (real engines) behind an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hitl.api import create_app
from hitl.config import Settings
from hitl.service import Service
from tests.support.api import GRAPH_MODULES


@pytest.fixture
def settings(database_url: str, redis_url: str, bus_prefix: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        bus_prefix=bus_prefix,
        graphs=GRAPH_MODULES,
        poll_interval=0.2,
        run_lease_seconds=3,
        db_pool_max=10,
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hitl") as c,
    ):
        c.service = app.state.service  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def service(client: httpx.AsyncClient) -> Service:
    return client.service  # type: ignore[attr-defined,no-any-return]
