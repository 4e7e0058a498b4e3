"""``/metrics``, ``/api/v1/status`` and the ``/status`` page after real work, in-process."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hitl.api import create_app
from hitl.config import Settings
from hitl.service import Service
from tests.support.api import pending, respond, settle, start

RESPOND_ROUTE = "/api/v1/requests/{request_id}/respond"


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[Any]], float]:
    """Every sample of ``/metrics`` by (name, labels)."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def eventually(
    client: httpx.AsyncClient, name: str, expected: float, **labels: str
) -> dict[tuple[str, frozenset[Any]], float]:
    """Scrape until a sample reads ``expected``: the runner counts a run just after its result
    commits, so a client that saw the commit may scrape a moment before the count."""
    for _ in range(50):
        samples = await scrape(client)
        if value(samples, name, **labels) == expected:
            return samples
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}{labels} = {value(samples, name, **labels)}, not {expected}")


async def test_a_full_cycle_moves_the_counters_and_gauges(client: httpx.AsyncClient) -> None:
    pending_approval = {"graph": "approval", "kind": "interrupt"}
    before = await scrape(client)
    assert value(before, "hitl_state_up") == 1
    assert value(before, "hitl_requests_pending", **pending_approval) == 0  # reported, as zero

    thread_id = await start(client, "approval", {})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    waiting = await eventually(
        client, "hitl_runs_finished_total", 1, graph="approval", status="interrupted"
    )
    assert value(waiting, "hitl_requests_pending", **pending_approval) == 1
    assert value(waiting, "hitl_requests_pending_oldest_age_seconds", **pending_approval) >= 0
    assert value(waiting, "hitl_requests", state="pending") == 1
    assert value(waiting, "hitl_threads", status="interrupted") == 1
    assert value(waiting, "hitl_runs_started_total", graph="approval", kind="start") == 1

    r = await respond(client, request["id"], {"decision": "approve"})
    assert r.status_code == 200, r.text
    assert (await settle(client, thread_id))["status"] == "completed"
    after = await eventually(
        client, "hitl_runs_finished_total", 1, graph="approval", status="completed"
    )

    assert value(after, "hitl_requests_pending", **pending_approval) == 0
    assert value(after, "hitl_requests", state="pending") == 0
    assert value(after, "hitl_requests", state="resumed") == 1
    assert value(after, "hitl_threads", status="completed") == 1
    assert value(after, "hitl_threads", status="interrupted") == 0
    assert value(after, "hitl_runs_queued") == 0
    assert value(after, "hitl_runs_started_total", graph="approval", kind="resume") == 1
    assert value(after, "hitl_runs_finished_total", graph="approval", status="failed") == 0
    assert value(after, "hitl_request_answer_seconds_count", graph="approval") == 1
    assert value(after, "hitl_request_answer_seconds_sum", graph="approval") >= 0
    duration = "hitl_run_duration_seconds_count"
    assert value(after, duration, graph="approval", status="interrupted") == 1
    assert value(after, duration, graph="approval", status="completed") == 1
    assert value(after, "hitl_runs_retried_total", graph="approval") == 0
    assert value(after, "hitl_runs_in_progress") == 0
    assert value(after, "hitl_lease_takeovers_total", work="run") == 0

    # HTTP figures are labelled by the route's template, never by the raw path.
    respond_ok = {"method": "POST", "route": RESPOND_ROUTE, "status": "200"}
    assert value(after, "hitl_http_requests_total", **respond_ok) == 1
    assert (
        value(after, "hitl_http_request_duration_seconds_count", method="POST", route=RESPOND_ROUTE)
        == 1
    )
    routes = {dict(labels).get("route") for name, labels in after if name.startswith("hitl_http")}
    assert not any(request["id"] in str(route) for route in routes)
    assert "/api/v1/threads/{thread_id}/wait" in routes

    # Paths no route matches share one label.
    assert (await client.get(f"/no/such/{request['id']}")).status_code == 404
    last = await scrape(client)
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert value(last, "hitl_http_requests_total", **unmatched) == 1


async def _seed_operations(service: Service) -> None:
    """A worker holding a run, a disabled endpoint, and two attempts (one succeeded) in the hour.

    The delivery is already settled and the endpoint disabled, so the service's own workers
    leave them alone.
    """
    async with service.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO hitl_threads (thread_id, graph, status)"
            " VALUES ('held', 'approval', 'running')"
        )
        await conn.execute(
            # A lease longer than the tests' 3 s, so that no reaper takes it back mid-test.
            "INSERT INTO hitl_runs"
            " (thread_id, kind, status, lease_owner, lease_expires_at, attempts)"
            " VALUES ('held', 'start', 'running', 'elsewhere:42:abc',"
            "         now() + interval '20 seconds', 1)"
        )
        cur = await conn.execute(
            "INSERT INTO hitl_webhook_endpoints (url, secret, enabled, disabled_reason)"
            " VALUES ('https://gone.example/hook', 'whsec_x', false, '410 Gone') RETURNING id"
        )
        endpoint = (await cur.fetchone())["id"]  # type: ignore[index]
        cur = await conn.execute(
            "INSERT INTO hitl_webhook_deliveries (endpoint_id, event_type, body, state, attempts)"
            " VALUES (%s, 'thread.completed', '{}', 'succeeded', 2) RETURNING id",
            (endpoint,),
        )
        delivery = (await cur.fetchone())["id"]  # type: ignore[index]
        await conn.execute(
            "INSERT INTO hitl_webhook_attempts (delivery_id, attempt, outcome, status_code)"
            " VALUES (%s, 1, 'failed', 500), (%s, 2, 'succeeded', 200)",
            (delivery, delivery),
        )


async def test_status_api_and_page_show_the_figures(
    client: httpx.AsyncClient, service: Service
) -> None:
    thread_id = await start(client, "approval", {})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    await _seed_operations(service)

    r = await client.get("/api/v1/status")
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["pending"]["count"] == 1
    assert status["pending"]["oldest_age_seconds"] >= 0
    assert status["runs"]["queued"] == 0
    assert status["runs"]["running"] == 1
    # This process by its heartbeat, and a worker known only as the owner of a running run (a
    # version from before heartbeats).
    by_name = {w["name"]: w for w in status["workers"]}
    assert by_name.keys() == {service.identity.id, "elsewhere:42:abc"}
    old = by_name["elsewhere:42:abc"]
    assert old["runs"] == 1 and old["kind"] is None and old["state"] == "alive"
    here = by_name[service.identity.id]
    assert here["kind"] == "serve" and here["runs"] == 0 and here["state"] == "alive"
    assert status["deliveries_last_hour"] == {
        "attempts": 2,
        "succeeded": 1,
        "by_outcome": {"failed": 1, "succeeded": 1},
        "success_rate": 0.5,
        "capped": False,
    }
    [endpoint] = status["disabled_endpoints"]
    assert endpoint["url"] == "https://gone.example/hook" and endpoint["reason"] == "410 Gone"
    assert status["postgres"]["reachable"] and status["postgres"]["version"]
    assert status["redis"]["reachable"] and status["redis"]["version"]
    assert "approval" in status["graphs"] and status["runner_here"] is True

    samples = await scrape(client)
    assert value(samples, "hitl_webhook_endpoints_disabled") == 1
    assert value(samples, "hitl_webhook_deliveries", state="succeeded") == 1
    assert value(samples, "hitl_runs_running") == 1

    r = await client.get("/status")
    assert r.status_code == 200, r.text
    page = r.text
    assert '<a href="/status" aria-current="page">Status</a>' in page
    assert '<td id="pending-count">1</td>' in page
    assert '<td id="runs-queued">0</td>' in page
    assert "elsewhere:42:abc" in page
    assert "1 of 2 attempts succeeded (50.0%)" in page
    assert "https://gone.example/hook" in page and "410 Gone" in page
    assert page.count('badge s-succeeded">reachable') == 2
    assert status["postgres"]["version"] in page


def test_apps_in_one_process_keep_their_own_registries(settings: Settings) -> None:
    first, second = create_app(settings), create_app(settings)
    assert first.state.metrics.registry is not second.state.metrics.registry
    # In memory: the multiprocess mode is for the commands that own their process.
    assert first.state.metrics.directory is None
    first.state.metrics.run_started("approval", "start", 1)
    count = "hitl_runs_started_total"
    labels = {"graph": "approval", "kind": "start"}
    assert first.state.metrics.registry.get_sample_value(count, labels) == 1
    assert second.state.metrics.registry.get_sample_value(count, labels) is None


async def worker_seen(client: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
    r = await client.get("/api/v1/status")
    assert r.status_code == 200, r.text
    found = [w for w in r.json()["workers"] if w["name"] == name]
    return found[0] if found else None


async def test_idle_workers_show_by_their_heartbeat_until_they_stop(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    beating = settings.model_copy(update={"worker_heartbeat_seconds": 0.1, "runner": False})
    async with Service.open(beating, kind="worker") as idle:
        name = idle.identity.id
        first = await worker_seen(client, name)  # registered before the service was ready
        assert first is not None
        assert first["kind"] == "worker" and first["state"] == "alive" and first["runs"] == 0
        assert first["pid"] == os.getpid() and first["host"] == socket.gethostname()
        assert first["work"] == ["webhook_delivery", "event_relay", "retention"]
        assert first["version"] and first["stopped_at"] is None
        for _ in range(100):  # it holds nothing, yet its heartbeat moves on
            seen = await worker_seen(client, name)
            if seen and seen["last_heartbeat"] > first["last_heartbeat"]:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the heartbeat of {name} never moved")

        # A process that stopped beating 30 s ago is stale; one silent for two days is not
        # listed, and the next heartbeat of any process forgets it.
        async with service.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO hitl_workers (id, kind, host, pid, version, last_heartbeat_at)"
                " VALUES ('quiet:1:a', 'worker', 'quiet', 1, '0', now() - interval '30 seconds'),"
                "        ('gone:2:b', 'worker', 'gone', 2, '0', now() - interval '2 days')"
            )
        stale = await worker_seen(client, "quiet:1:a")
        assert stale is not None and stale["state"] == "stale"
        assert await worker_seen(client, "gone:2:b") is None
        for _ in range(100):
            async with service.pool.connection() as conn:
                cur = await conn.execute("SELECT id FROM hitl_workers WHERE id = 'gone:2:b'")
                if await cur.fetchone() is None:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the two-day-old worker row was never forgotten")

        page = (await client.get("/status")).text
        row = page.split(f'<tr data-worker="{name}">', 1)[1].split("</tr>", 1)[0]
        assert "<td>worker</td>" in row and "webhook_delivery, event_relay, retention" in row
        assert 'badge s-succeeded">alive' in row and "<td>0</td>" in row
        assert 'badge s-failed">stale' in page.split('<tr data-worker="quiet:1:a">', 1)[1]

    stopped = await worker_seen(client, name)  # a clean stop says so
    assert stopped is not None and stopped["state"] == "stopped" and stopped["stopped_at"]
    page = (await client.get("/status")).text
    assert 'class="badge">stopped' in page.split(f'<tr data-worker="{name}">', 1)[1]


async def test_a_crashed_workers_run_counts_as_a_takeover_and_a_retry(
    client: httpx.AsyncClient, service: Service
) -> None:
    # A run claimed by a worker that died: its lease has lapsed and nobody renews it.
    async with service.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO hitl_threads (thread_id, graph, status)"
            " VALUES ('orphan', 'approval', 'running')"
        )
        await conn.execute(
            "INSERT INTO hitl_runs"
            " (thread_id, kind, input, status, lease_owner, lease_expires_at, attempts)"
            " VALUES ('orphan', 'start', '{}', 'running', 'dead:1:abc',"
            "         now() - interval '1 second', 1)"
        )

    assert (await settle(client, "orphan"))["status"] == "interrupted"
    samples = await eventually(
        client, "hitl_runs_finished_total", 1, graph="approval", status="interrupted"
    )
    assert value(samples, "hitl_lease_takeovers_total", work="run") == 1
    assert value(samples, "hitl_runs_retried_total", graph="approval") == 1
    assert value(samples, "hitl_runs_started_total", graph="approval", kind="start") == 1
