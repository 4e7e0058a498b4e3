"""Engines, a scratch database and a service process for a benchmark run."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis
from psycopg.conninfo import make_conninfo

from hitl.launcher import ServiceProcess, base_env

ROOT = Path(__file__).resolve().parent.parent
BUS_PREFIX = f"hitl:bench-{os.getpid()}:"


@contextlib.contextmanager
def engines() -> Iterator[tuple[str, str]]:
    """``HITL_BENCH_DATABASE_URL`` / ``HITL_BENCH_REDIS_URL``, or embedded engines.

    The services started here use a Redis key prefix of this run's own (`BUS_PREFIX`), deleted
    at the end, so a shared Redis keeps nothing of a benchmark.
    """
    database_url = os.environ.get("HITL_BENCH_DATABASE_URL")
    redis_url = os.environ.get("HITL_BENCH_REDIS_URL")
    if database_url and redis_url:
        try:
            yield database_url, redis_url
        finally:
            _drop_bus_keys(redis_url)
        return
    from hitl.embedded import embedded_services

    with (
        tempfile.TemporaryDirectory(prefix="hitl-bench-") as data_dir,
        embedded_services(Path(data_dir), postgres=not database_url, redis=not redis_url) as found,
    ):
        yield database_url or found.database_url, redis_url or found.redis_url


def _drop_bus_keys(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=BUS_PREFIX + "*", count=1000):
        client.delete(key)
    client.close()


@contextlib.contextmanager
def scratch_database(base_url: str) -> Iterator[str]:
    name = f"hitl_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(base_url, dbname=name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


KEYS: dict[str, str] = {}  # service URL -> an API key on its database


def auth_headers(url: str) -> dict[str, str]:
    """The Authorization header for the service at ``url`` started by `service`."""
    return {"Authorization": f"Bearer {KEYS[url]}"}


@contextlib.contextmanager
def service(database_url: str, redis_url: str, **env: str) -> Iterator[ServiceProcess]:
    log = Path(tempfile.mkstemp(prefix="hitl-bench-", suffix=".log")[1])
    server = ServiceProcess(
        {
            **base_env(),
            "HITL_DATABASE_URL": database_url,
            "HITL_REDIS_URL": redis_url,
            "HITL_BUS_PREFIX": BUS_PREFIX,
            "HITL_LOG_LEVEL": "warning",
            **env,
        },
        log,
        cwd=ROOT,
    )
    server.start()
    try:
        server.wait_ready()
        # every API call needs a key: one per service for the benchmark clients
        KEYS[server.url] = server.create_api_key(f"bench-{server.port}")
        yield server
    except BaseException:
        print(server.log()[-3000:], file=sys.stderr)
        raise
    finally:
        server.terminate()
        log.unlink(missing_ok=True)


@contextlib.contextmanager
def worker(database_url: str, redis_url: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A ``hitl worker`` process executing the runs (``env``: more settings)."""
    env = {
        **base_env(),
        "HITL_DATABASE_URL": database_url,
        "HITL_REDIS_URL": redis_url,
        "HITL_BUS_PREFIX": BUS_PREFIX,
        "HITL_LOG_LEVEL": "warning",
        **env,
    }
    proc = subprocess.Popen([sys.executable, "-m", "hitl.cli", "worker"], env=env, cwd=ROOT)
    try:
        time.sleep(2)  # its first claim comes from the queue; nothing to wait on but start-up
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)
