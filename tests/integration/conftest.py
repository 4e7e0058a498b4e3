"""The service in-process (real engines) behind an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from hitl.api import create_app
from hitl.config import Settings
from hitl.launcher import free_port
from hitl.service import Service
from tests.support import auth
from tests.support.api import GRAPH_MODULES
from tests.support.receiver import Receiver
from tests.support.smtp import SMTPSink


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
        # Most tests ask and answer as the one test admin; the four-eyes tests
        # (test_approvals.py) turn it back on.
        forbid_self_approval="none",
    )


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    """A webhook receiver on this machine that answers 200 (see `tests.support.webhooks`)."""
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
def smtp_port() -> int:
    """The port of `smtp`, chosen before it starts: for the settings (`smtp.mailing`)."""
    return free_port()


@pytest.fixture
async def smtp(smtp_port: int) -> AsyncIterator[SMTPSink]:
    """An SMTP server on this machine that keeps every message it takes."""
    async with SMTPSink(smtp_port) as sink:
        yield sink


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hitl", headers=auth.BEARER
        ) as c,
    ):
        c.service = app.state.service  # type: ignore[attr-defined]
        c.app = app  # type: ignore[attr-defined]
        yield c


@pytest.fixture
async def client_for(
    client: httpx.AsyncClient,
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """More clients of the same app: ``client_for(api_key)`` sends that key, ``client_for()``
    nothing (a cookie jar of its own, for sessions)."""
    made: list[httpx.AsyncClient] = []

    def make(api_key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        transport = httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
        made.append(httpx.AsyncClient(transport=transport, base_url="http://hitl", headers=headers))
        return made[-1]

    yield make
    for c in made:
        await c.aclose()


@pytest.fixture
def service(client: httpx.AsyncClient) -> Service:
    return client.service  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
async def from_address(
    client: httpx.AsyncClient,
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of the in-process app, each connecting from the address given (a proxy, or a
    browser): for what depends on the client's address."""
    made: list[httpx.AsyncClient] = []
    app: FastAPI = client.app  # type: ignore[attr-defined]

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        made.append(httpx.AsyncClient(transport=transport, base_url="http://hitl"))
        return made[-1]

    yield make
    for c in made:
        await c.aclose()
