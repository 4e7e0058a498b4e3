"""Operations across processes: a ``hitl worker``'s figures in ``/metrics`` (through a metrics
folder shared with the server, or on a port of its own) and its heartbeat on the Status page."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hitl.launcher import ServiceProcess, free_port
from tests.support.api import pending, respond, settle, start
from tests.support.receiver import Receiver
from tests.support.workers import Worker

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

WEBHOOKS = {
    "HITL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "HITL_WEBHOOK_RETRY_SCHEDULE": "0,0.5,0.5,1",
}


@pytest.fixture
def make_worker(
    service_env: Callable[[], dict[str, str]], tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def make(*args: str, **env: str) -> Worker:
        worker = Worker(
            {**service_env(), **env},
            tmp_path / f"worker{len(started)}.log",
            args,
        )
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.kill()


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(client: httpx.AsyncClient, path: str = "/metrics") -> Samples:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    return parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def until(
    client: httpx.AsyncClient, check: Callable[[Samples], bool], path: str = "/metrics"
) -> Samples:
    """Scrape until ``check`` holds: a process counts a run just after its result commits."""
    for _ in range(200):
        samples = await scrape(client, path)
        if check(samples):
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"never held; last scrape: {sorted(samples.items())}")


async def full_cycle(client: httpx.AsyncClient) -> str:
    thread_id = await start(client, "approval", {})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    for _ in range(50):
        if (await settle(client, thread_id))["status"] == "completed":
            return thread_id
    raise AssertionError(f"thread {thread_id} never completed")


def one_cycle_of_runs(samples: Samples) -> bool:
    return (
        value(samples, "hitl_runs_finished_total", graph="approval", status="interrupted") == 1
        and value(samples, "hitl_runs_finished_total", graph="approval", status="completed") == 1
    )


def assert_runs_of_one_cycle(samples: Samples) -> None:
    assert value(samples, "hitl_runs_started_total", graph="approval", kind="start") == 1
    assert value(samples, "hitl_runs_started_total", graph="approval", kind="resume") == 1
    assert value(samples, "hitl_runs_retried_total", graph="approval") == 0
    duration = "hitl_run_duration_seconds_count"
    assert value(samples, duration, graph="approval", status="interrupted") == 1
    assert value(samples, duration, graph="approval", status="completed") == 1
    assert value(samples, "hitl_request_answer_seconds_count", graph="approval") == 1
    assert value(samples, "hitl_runs_in_progress") == 0


async def deliveries_settled(database_url: str) -> int:
    """The succeeded webhook attempts, once no delivery is left to send."""

    def read() -> tuple[int, int]:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM hitl_webhook_deliveries"
                "        WHERE state IN ('pending', 'delivering')),"
                "       (SELECT count(*) FROM hitl_webhook_attempts WHERE outcome = 'succeeded')"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    for _ in range(200):
        waiting, succeeded = await asyncio.to_thread(read)
        if not waiting:
            return succeeded
        await asyncio.sleep(0.05)
    raise AssertionError("webhook deliveries never settled")


async def test_a_worker_on_this_host_reports_through_the_servers_metrics(
    make_server: Callable[..., ServiceProcess],
    make_worker: Callable[..., Worker],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "metrics"
    port = free_port()
    async with Receiver() as hook:
        # The API process runs no graphs: every run below is the worker's. Both deliver webhooks.
        server = make_server(HITL_RUNNER="false", HITL_METRICS_DIR=str(folder), **WEBHOOKS)
        server.start()
        worker = make_worker(HITL_METRICS_DIR=str(folder), HITL_METRICS_PORT=str(port), **WEBHOOKS)
        await asyncio.to_thread(server.wait_ready)
        await asyncio.to_thread(worker.wait_ready)
        client = http(server.url)
        r = await client.post("/api/v1/webhooks", json={"url": hook.url(), "events": ["*"]})
        assert r.status_code == 201, r.text

        await full_cycle(client)
        attempts = await deliveries_settled(database_url)
        assert attempts >= 5  # thread.created, request.created, ... thread.completed

        samples = await until(
            client,
            lambda s: (
                one_cycle_of_runs(s)
                and value(s, "hitl_webhook_attempts_total", outcome="succeeded") == attempts
            ),
        )
    assert_runs_of_one_cycle(samples)
    # The server's own figures are there too, and the shared state once, read at this scrape.
    started = {"method": "POST", "route": "/api/v1/threads", "status": "202"}
    assert value(samples, "hitl_http_requests_total", **started) == 1
    assert value(samples, "hitl_threads", status="completed") == 1
    assert value(samples, "hitl_state_up") == 1
    assert value(samples, "hitl_webhook_attempt_duration_seconds_count") == attempts
    assert value(samples, "hitl_webhook_attempts_in_progress") == 0

    # The worker's port reports the folder too, without the shared state (the API has it).
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as direct:
        from_worker = await scrape(direct)
    assert_runs_of_one_cycle(from_worker)
    assert value(from_worker, "hitl_webhook_attempts_total", outcome="succeeded") == attempts
    assert not {"hitl_state_up", "hitl_threads", "hitl_requests_pending"} & names(from_worker)

    # A worker that stops takes its live gauges with it; its counts stay in the sums.
    pid = worker.proc.pid
    assert (folder / f"gauge_livesum_{pid}.db").exists()
    worker.proc.terminate()
    assert await asyncio.to_thread(worker.proc.wait, 30) == 0
    assert not (folder / f"gauge_livesum_{pid}.db").exists()
    assert (folder / f"counter_{pid}.db").exists()
    after = await scrape(client)
    assert_runs_of_one_cycle(after)


async def test_a_worker_on_another_host_is_scraped_on_its_own_port(
    make_server: Callable[..., ServiceProcess],
    make_worker: Callable[..., Worker],
    http: Callable[[str], httpx.AsyncClient],
) -> None:
    port = free_port()
    server = make_server(HITL_RUNNER="false")  # no metrics folder: each process its own
    server.start()
    worker = make_worker("--metrics-port", str(port))
    await asyncio.to_thread(server.wait_ready)
    await asyncio.to_thread(worker.wait_ready)
    assert f"metrics on http://127.0.0.1:{port}/metrics" in worker.log.read_text()
    client = http(server.url)

    await full_cycle(client)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as direct:
        from_worker = await until(direct, one_cycle_of_runs)
    assert_runs_of_one_cycle(from_worker)
    assert not {"hitl_state_up", "hitl_threads", "hitl_http_requests_total"} & names(from_worker)
    from_server = await scrape(client)
    assert value(from_server, "hitl_threads", status="completed") == 1
    assert "hitl_runs_finished_total" not in names(from_server)  # this process ran nothing


async def status_of(client: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
    r = await client.get("/api/v1/status")
    assert r.status_code == 200, r.text
    found = [w for w in r.json()["workers"] if w["name"] == name]
    return found[0] if found else None


async def until_state(client: httpx.AsyncClient, name: str, state: str) -> dict[str, Any]:
    for _ in range(200):
        seen = await status_of(client, name)
        if seen is not None and seen["state"] == state:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never {state}: {seen}")


def row_of(page: str, name: str) -> str:
    return page.split(f'<tr data-worker="{name}">', 1)[1].split("</tr>", 1)[0]


async def test_idle_workers_show_on_the_status_page_until_they_stop_or_die(
    make_server: Callable[..., ServiceProcess],
    make_worker: Callable[..., Worker],
    http: Callable[[str], httpx.AsyncClient],
) -> None:
    beat = {"HITL_WORKER_HEARTBEAT_SECONDS": "0.2"}
    server = make_server(HITL_RUNNER="false", **beat).start()
    leaving, dying = make_worker(**beat), make_worker(**beat)
    await asyncio.to_thread(server.wait_ready)
    await asyncio.to_thread(leaving.wait_ready)
    await asyncio.to_thread(dying.wait_ready)
    client = http(server.url)

    first = await status_of(client, leaving.owner)
    assert first is not None and first["state"] == "alive"
    assert first["kind"] == "worker" and first["runs"] == 0 and first["pid"] == leaving.proc.pid
    assert first["work"] == ["runner", "timers", "webhook_delivery", "event_relay", "retention"]
    for _ in range(200):  # idle, and still its heartbeat moves on
        seen = await status_of(client, leaving.owner)
        if seen and seen["last_heartbeat"] > first["last_heartbeat"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the idle worker's heartbeat never moved")
    r = await client.get("/status")
    assert r.status_code == 200, r.text
    row = row_of(r.text, leaving.owner)
    assert "<td>worker</td>" in row and 'badge s-succeeded">alive' in row
    assert "runner, timers, webhook_delivery, event_relay, retention" in row
    everyone = (await client.get("/api/v1/status")).json()["workers"]
    assert server.proc is not None
    assert [w["pid"] for w in everyone if w["kind"] == "serve"] == [server.proc.pid]

    leaving.proc.terminate()  # a clean stop says so at once
    assert await asyncio.to_thread(leaving.proc.wait, 30) == 0
    stopped = await status_of(client, leaving.owner)
    assert stopped is not None and stopped["state"] == "stopped" and stopped["stopped_at"]

    os.kill(dying.proc.pid, 9)  # SIGKILL: nothing said; three missed heartbeats make it stale
    await asyncio.to_thread(dying.proc.wait, 30)
    await until_state(client, dying.owner, "stale")
    page = (await client.get("/status")).text
    assert 'class="badge">stopped' in row_of(page, leaving.owner)
    assert 'badge s-failed">stale' in row_of(page, dying.owner)
