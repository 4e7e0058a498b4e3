"""A server process on a fresh database, killed however the test likes, always cleaned up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from hitl.launcher import ServiceProcess, base_env
from tests.conftest import ROOT
from tests.support import auth
from tests.support.api import GRAPH_MODULES
from tests.support.workers import Worker


@pytest.fixture
def service_env(database_url: str, redis_url: str, bus_prefix: str) -> Callable[[], dict[str, str]]:
    """The environment of a server or worker process on this test's database, Redis prefix
    and graphs, with short leases and polls (built when called: `base_env` reads os.environ)."""

    def make() -> dict[str, str]:
        return {
            **base_env(),
            "HITL_DATABASE_URL": database_url,
            "HITL_REDIS_URL": redis_url,
            "HITL_BUS_PREFIX": bus_prefix,
            "HITL_GRAPHS": GRAPH_MODULES,
            "HITL_RUN_LEASE_SECONDS": "2",
            "HITL_POLL_INTERVAL": "0.2",
            # most tests ask and answer as the one test admin (four-eyes tests turn it on)
            "HITL_FORBID_SELF_APPROVAL": "none",
        }

    return make


@pytest.fixture
def make_server(
    service_env: Callable[[], dict[str, str]], tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def make(**env: str) -> ServiceProcess:
        server = ServiceProcess(
            {**service_env(), **env},
            tmp_path / f"server{len(started)}.log",
            cwd=ROOT,
        )
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()


@pytest.fixture
async def http() -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(url: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=url, timeout=60, headers=auth.BEARER)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def ready_server(make_server: Callable[..., ServiceProcess]) -> ServiceProcess:
    """One ``hitl serve`` process, its runner included, ready on this test's database."""
    server = make_server().start()
    server.wait_ready()
    return server


@pytest.fixture
def admin(
    ready_server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> httpx.AsyncClient:
    """A client of `ready_server` with the test admin's API key."""
    return http(ready_server.url)


@pytest.fixture
async def server(
    make_server: Callable[..., ServiceProcess],
    service_env: Callable[[], dict[str, str]],
    tmp_path: Path,
) -> AsyncIterator[ServiceProcess]:
    """An API process that runs no graphs, and a ``hitl worker`` that runs them: what a
    client reads of a run comes from another process. (A module that needs another server
    defines its own ``server``.)"""
    api = make_server(HITL_RUNNER="false").start()
    worker = Worker(service_env(), tmp_path / "worker.log")
    try:
        api.wait_ready()
        worker.wait_ready()
        yield api
    finally:
        worker.kill()


@pytest.fixture
def lg(server: ServiceProcess) -> Any:
    """LangGraph's own client on ``server``'s Agent Server door, as the admin."""
    return get_client(url=server.url + "/lg", api_key=auth.ADMIN_KEY)
