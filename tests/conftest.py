"""Engines and databases for the tests: real Postgres, real Redis, a clean database per test.

``HITL_TEST_DATABASE_URL`` / ``HITL_TEST_REDIS_URL`` point the suite at running servers (CI
does); without them the suite starts the embedded engines, as the service does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from redis.asyncio import Redis

from hitl import db
from hitl.db import migrate
from tests.support import auth, browser, node

ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected: only what will run counts
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A run that includes the browser tests, the JavaScript client's or the Docker test stops at
    once, with one line saying what to install, when Chromium, Node.js or Docker is missing
    (rather than one error per test, minutes later)."""
    needs_browser = any(item.nodeid.startswith("tests/e2e/test_ui.py") for item in items)
    if needs_browser and (missing := browser.missing_chromium()):
        pytest.exit(missing, returncode=4)
    needs_node = any(item.nodeid.startswith("tests/e2e/test_js_client.py") for item in items)
    if needs_node and (missing := node.missing_node()):
        pytest.exit(missing, returncode=4)
    if any(item.get_closest_marker("docker") for item in items):
        from tests.docker.images import missing_prerequisites

        if missing := missing_prerequisites():
            pytest.exit(missing, returncode=4)


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    database_url = os.environ.get("HITL_TEST_DATABASE_URL")
    redis_url = os.environ.get("HITL_TEST_REDIS_URL")
    if database_url and redis_url:
        yield database_url, redis_url
        return
    from hitl.embedded import embedded_services

    data_dir = tmp_path_factory.mktemp("engines")
    with embedded_services(data_dir, postgres=not database_url, redis=not redis_url) as found:
        yield database_url or found.database_url, redis_url or found.redis_url


@pytest.fixture(scope="session")
def redis_url(engines: tuple[str, str]) -> str:
    return engines[1]


@pytest.fixture
async def bus_prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis key prefix of this test's own (``HITL_BUS_PREFIX``), deleted afterwards: tests
    share one Redis, and the default ``hitl:events`` stream would only grow."""
    prefix = f"hitl:test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    redis = Redis.from_url(redis_url)
    async for key in redis.scan_iter(match=prefix + "*", count=1000):
        await redis.delete(key)
    await redis.aclose()


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


@pytest.fixture(scope="session")
async def template_database(engines: tuple[str, str]) -> AsyncIterator[str]:
    """A database migrated once; each test gets a copy of it."""
    base = engines[0]
    name = f"hitl_tpl_{os.getpid()}"
    with _admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(base, dbname=name)
    async with db.create_pool(url, min_size=1, max_size=1) as pool:
        await migrate.migrate(pool)
    with psycopg.connect(url, autocommit=True) as conn:
        auth.install(conn)
    yield name
    with _admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(engines: tuple[str, str], template_database: str) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    base = engines[0]
    name = f"hitl_t_{uuid.uuid4().hex[:12]}"
    with _admin(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield make_conninfo(base, dbname=name)
    with _admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
