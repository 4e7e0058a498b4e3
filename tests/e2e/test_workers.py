"""Scale-out: API replicas and ``hitl worker`` processes on one database, killed at will.

Nodes count their executions in per-thread files (``counter_file``, see tests/support/graphs.py),
so the tests see how often each node ran, whichever process ran it.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from hitl.launcher import ServiceProcess, base_env
from tests.conftest import ROOT
from tests.support.api import pending, respond, settle, start
from tests.support.workers import Worker

THREADS = 50


@pytest.fixture
def cluster(
    make_server: Callable[..., ServiceProcess],
    service_env: Callable[[], dict[str, str]],
    tmp_path: Path,
) -> Iterator[Callable[[int, int], tuple[list[ServiceProcess], list[Worker]]]]:
    workers: list[Worker] = []

    def make(apis: int, n_workers: int) -> tuple[list[ServiceProcess], list[Worker]]:
        servers = [make_server(HITL_RUNNER="false").start() for _ in range(apis)]
        env = service_env()
        started = [Worker(env, tmp_path / f"worker{i}.log") for i in range(n_workers)]
        workers.extend(started)
        for server in servers:
            server.wait_ready()
        for worker in started:
            worker.wait_ready()
        return servers, started

    yield make
    for worker in workers:
        worker.kill()


def counts(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def running_runs(database_url: str, owner: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT thread_id FROM hitl_runs WHERE status = 'running' AND lease_owner = %s",
            (owner,),
        ).fetchall()
    return [r[0] for r in rows]


async def until_running(database_url: str, owner: str, timeout: float = 30) -> list[str]:
    """The threads whose runs ``owner`` holds, as soon as it holds any."""
    deadline = time.monotonic() + timeout
    while not (held := await asyncio.to_thread(running_runs, database_url, owner)):
        assert time.monotonic() < deadline, f"{owner} never held a run"
        await asyncio.sleep(0.005)
    return held


async def start_many(client: httpx.AsyncClient, folder: Path, n: int) -> dict[str, Path]:
    files = [folder / f"count-{i}" for i in range(n)]
    ids = await asyncio.gather(
        *(start(client, "approval", {"counter_file": str(f)}) for f in files)
    )
    return dict(zip(ids, files, strict=True))


def answered_once(database_url: str, thread_id: str) -> None:
    with psycopg.connect(database_url) as conn:
        states = conn.execute(
            "SELECT state FROM hitl_requests WHERE thread_id = %s", (thread_id,)
        ).fetchall()
    assert states == [("resumed",)], (thread_id, states)


class Gate:
    """Counter files turned into FIFOs: a node that counts blocks until the gate opens, so the
    runs are surely in flight when a worker is killed. Then threads read every FIFO, keeping
    the lines."""

    def __init__(self, files: list[Path]) -> None:
        self.lines: dict[Path, list[str]] = {}
        for path in files:
            self.lines[path] = path.read_text().split()
            path.unlink()
            os.mkfifo(path)
        self._open = False
        self._threads: list[threading.Thread] = []

    def open(self) -> None:
        self._open = True
        for path in self.lines:
            thread = threading.Thread(target=self._read, args=(path,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read(self, path: Path) -> None:
        # Read-write, kept open: writers never block again and nothing written is dropped
        # (a FIFO discards unread data when its last reader closes).
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        data = b""
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if ready:
                    data += os.read(fd, 65536)
                elif not self._open:
                    break
        finally:
            os.close(fd)
        self.lines[path] += data.decode().split()

    def close(self) -> None:
        self._open = False
        for thread in self._threads:
            thread.join(10)


def running(database_url: str) -> dict[str, list[str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT lease_owner, thread_id FROM hitl_runs WHERE status = 'running'"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for owner, thread_id in rows:
        found.setdefault(owner, []).append(thread_id)
    return found


async def test_fifty_threads_survive_a_sigkilled_worker(
    cluster: Callable[[int, int], tuple[list[ServiceProcess], list[Worker]]],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    [api], [doomed, survivor] = cluster(1, 2)
    client = http(api.url)
    threads = await start_many(client, tmp_path, THREADS)
    for thread in await asyncio.gather(*(settle(client, t, 60) for t in threads)):
        assert thread["status"] == "interrupted"
    requests = [(await pending(client, t))[0] for t in threads]
    gate = Gate(list(threads.values()))
    try:
        replies = await asyncio.gather(
            *(respond(client, r["id"], {"decision": "approve"}) for r in requests)
        )
        assert {r.status_code for r in replies} == {200}
        # Both workers hold resumed runs, blocked in the node that counts.
        deadline = time.monotonic() + 30
        while len(held := await asyncio.to_thread(running, database_url)) < 2:
            assert time.monotonic() < deadline, held
            await asyncio.sleep(0.05)
        doomed.proc.kill()  # SIGKILL: its runs stay "running" under a lease nobody renews
        killed = held[doomed.owner]
        gate.open()
        finals = await asyncio.gather(*(settle(client, t, 60) for t in threads))
    finally:
        gate.close()

    with psycopg.connect(database_url) as conn:
        taken_over = {
            r[0]
            for r in conn.execute("SELECT thread_id FROM hitl_runs WHERE attempts > 1").fetchall()
        }
    assert set(killed) == taken_over
    for thread, (thread_id, counter) in zip(finals, threads.items(), strict=True):
        assert thread["status"] == "completed", thread
        assert thread["values"]["log"] == [["ask", "approve"], ["after"]]  # applied once
        answered_once(database_url, thread_id)
        # The killed runs never got past their first node: it runs again, the rest once.
        assert gate.lines[counter] == ["ask", "ask", "after"], (thread_id, gate.lines[counter])
    assert survivor.proc.poll() is None


async def test_answers_through_either_replica_resume_once(
    cluster: Callable[[int, int], tuple[list[ServiceProcess], list[Worker]]],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    (api_a, api_b), _ = cluster(2, 2)
    a, b = http(api_a.url), http(api_b.url)
    threads = await start_many(a, tmp_path, 20)
    await asyncio.gather(*(settle(b, t, 60) for t in threads))
    requests = [(await pending(b, t))[0] for t in threads]

    # Every request answered through both replicas at once: one answer wins, the other is 409.
    replies = await asyncio.gather(
        *(
            respond(client, r["id"], {"decision": "approve", "comment": name})
            for r in requests
            for client, name in ((a, "a"), (b, "b"))
        )
    )
    for pair in zip(replies[::2], replies[1::2], strict=True):
        assert sorted(r.status_code for r in pair) == [200, 409]
    for thread_id, counter in threads.items():
        thread = await settle(a if hash(thread_id) % 2 else b, thread_id, 60)
        assert thread["status"] == "completed"
        assert thread["values"]["log"] == [["ask", "approve"], ["after"]]
        answered_once(database_url, thread_id)
        assert counts(counter) == ["ask", "ask", "after"]


async def test_sigterm_finishes_or_releases_held_runs_and_exits(
    cluster: Callable[[int, int], tuple[list[ServiceProcess], list[Worker]]],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    [api], [leaving, staying] = cluster(1, 2)
    client = http(api.url)
    starting = asyncio.create_task(start_many(client, tmp_path, 30))
    await until_running(database_url, leaving.owner)
    leaving.proc.terminate()
    assert await asyncio.to_thread(leaving.proc.wait, 30) == 0
    threads = await starting
    assert await asyncio.to_thread(running_runs, database_url, leaving.owner) == []
    log = leaving.log.read_text()
    assert f'"worker": "{leaving.owner}"' in log and "stopped" in log  # JSON lines to a file

    for thread_id, counter in threads.items():
        assert (await settle(client, thread_id, 60))["status"] == "interrupted"
        assert counts(counter) == ["ask"]  # nothing needed a takeover: no node ran twice
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM hitl_runs WHERE attempts > 1").fetchone() == (0,)
    assert staying.proc.poll() is None


def hitl(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hitl.cli", *args],
        env={**base_env(), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_check(database_url: str, redis_url: str, engines: tuple[str, str]) -> None:
    ok = hitl("worker", "--check", HITL_DATABASE_URL=database_url, HITL_REDIS_URL=redis_url)
    assert ok.returncode == 0, ok.stderr
    assert "ready" in ok.stdout

    no_redis = hitl(
        "worker", "--check", HITL_DATABASE_URL=database_url, HITL_REDIS_URL="redis://127.0.0.1:1"
    )
    assert no_redis.returncode == 1 and "redis unreachable" in no_redis.stderr

    name = f"hitl_check_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(engines[0], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        empty = make_conninfo(engines[0], dbname=name)
        fresh = hitl("worker", "--check", HITL_DATABASE_URL=empty, HITL_REDIS_URL=redis_url)
        assert fresh.returncode == 1 and "migrations pending: 0001_init" in fresh.stderr
    finally:
        with psycopg.connect(engines[0], autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_serve_workers_zero_is_api_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from hitl import cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(cli, "serve", lambda settings, reload: seen.update(runner=settings.runner))
    cli.main(["serve", "--workers", "0"])
    assert seen == {"runner": False}
    cli.main(["serve", "--workers", "1"])
    assert seen == {"runner": True}


async def test_a_draining_worker_keeps_its_leases_until_its_runs_end(
    cluster: Callable[[int, int], tuple[list[ServiceProcess], list[Worker]]],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
) -> None:
    """SIGTERM while runs take longer than a lease (2 s here) but less than the drain's grace:
    the leaving worker finishes them and keeps renewing their leases meanwhile, so the other
    worker never takes one over and runs it a second time."""
    [api], [leaving, staying] = cluster(1, 2)
    client = http(api.url)
    ids = await asyncio.gather(*(start(client, "slow", {"seconds": 5}) for _ in range(4)))
    held = await until_running(database_url, leaving.owner)
    leaving.proc.terminate()
    assert await asyncio.to_thread(leaving.proc.wait, 30) == 0
    for thread_id in ids:
        assert (await settle(client, thread_id, 60))["status"] == "interrupted"
    with psycopg.connect(database_url) as conn:
        attempts = conn.execute(
            "SELECT thread_id, attempts FROM hitl_runs WHERE thread_id = ANY(%s)", (held,)
        ).fetchall()
    assert attempts and all(n == 1 for _, n in attempts), attempts
    assert staying.proc.poll() is None
