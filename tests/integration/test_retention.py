"""Retention: what aged out goes (in batches), what is live stays, a dry run only counts."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hitl import retention
from hitl.config import Settings
from hitl.metrics import Metrics
from hitl.service import Service
from tests.support.api import pending, respond, settle, start

DAY = 86400.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No background pass: the tests prune by hand.
    return settings.model_copy(update={"retention_interval": 0.0})


def aged(settings: Settings, **update: Any) -> Settings:
    return settings.model_copy(
        update={
            "retention_threads_seconds": DAY,
            "retention_requests_seconds": DAY,
            "retention_runs_seconds": DAY,
            "retention_events_seconds": DAY,
            "retention_deliveries_seconds": DAY,
            "retention_audit_seconds": DAY,
            **update,
        }
    )


async def sql(service: Service, statement: str, *params: Any) -> list[dict[str, Any]]:
    async with service.pool.connection() as conn:
        cur = await conn.execute(statement, params)  # type: ignore[arg-type]
        return list(await cur.fetchall()) if cur.description else []


async def count(service: Service, table: str, thread_id: str) -> int:
    column = "subject" if table in ("hitl_events", "hitl_audit") else "thread_id"
    [row] = await sql(service, f"SELECT count(*) AS n FROM {table} WHERE {column} = %s", thread_id)
    return int(row["n"])


async def age_everything(service: Service, days: int = 40) -> None:
    """Make every row look ``days`` old."""
    back = f"now() - interval '{days} days'"
    for statement in (
        f"UPDATE hitl_threads SET updated_at = {back}, created_at = {back}",
        f"UPDATE hitl_requests SET updated_at = {back}, created_at = {back}",
        f"UPDATE hitl_events SET created_at = {back}",
        f"UPDATE hitl_audit SET at = {back}",
    ):
        await sql(service, statement)


async def completed_thread(client: httpx.AsyncClient) -> str:
    thread_id = await start(client, "approval", {})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    await wait_status(client, thread_id, "completed")
    return thread_id


async def interrupted_thread(client: httpx.AsyncClient) -> str:
    thread_id = await start(client, "approval", {})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    return thread_id


async def wait_status(client: httpx.AsyncClient, thread_id: str, status: str) -> None:
    for _ in range(100):
        body = await settle(client, thread_id)
        if body["status"] == status:
            return
    raise AssertionError(f"thread {thread_id} never reached {status}")


async def relay_all(service: Service) -> None:
    await sql(service, "UPDATE hitl_events SET relayed_at = now() WHERE relayed_at IS NULL")


async def test_aged_completed_thread_goes_and_live_ones_stay(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    done = await completed_thread(client)
    waiting = await interrupted_thread(client)
    assert await count(service, "checkpoints", done) > 0
    assert await count(service, "hitl_events", done) > 0
    await relay_all(service)
    await age_everything(service)

    pruned = await retention.prune(service.pool, aged(settings))

    assert pruned.rows["hitl_threads"] == 1
    assert pruned.rows["checkpoints"] > 0 and pruned.rows["checkpoint_writes"] > 0
    assert pruned.rows["checkpoint_blobs"] > 0
    assert pruned.rows["hitl_runs"] == 2 and pruned.rows["hitl_requests"] == 1
    for table in ("hitl_threads", "checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        assert await count(service, table, done) == 0, table
    for table in ("hitl_runs", "hitl_requests", "hitl_events", "hitl_audit"):
        assert await count(service, table, done) == 0, table

    # The interrupted thread, its checkpoints and its pending request are untouched (its
    # relayed events and its audit entry aged out like any other).
    assert await count(service, "hitl_threads", waiting) == 1
    assert await count(service, "checkpoints", waiting) > 0
    [request] = await pending(client, waiting)
    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    await wait_status(client, waiting, "completed")  # still resumable


async def test_settled_requests_of_live_threads_go_pending_ones_stay(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    thread_id = await interrupted_thread(client)
    [first] = await pending(client, thread_id)
    # A second request on the same live thread, already closed.
    await sql(
        service,
        "INSERT INTO hitl_requests (thread_id, interrupt_id, graph, state, closed_at)"
        " VALUES (%s, 'old', 'approval', 'superseded', now())",
        thread_id,
    )
    await age_everything(service)

    pruned = await retention.prune(service.pool, aged(settings))

    assert pruned.rows["hitl_requests"] == 1 and pruned.rows["hitl_threads"] == 0
    states = await sql(service, "SELECT id::text, state FROM hitl_requests")
    assert states == [{"id": first["id"], "state": "pending"}]


async def test_dry_run_counts_and_deletes_nothing(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    done = await completed_thread(client)
    await relay_all(service)
    await age_everything(service)
    before = {t: await count(service, t, done) for t in ("checkpoints", "hitl_runs")}

    dry = await retention.prune(service.pool, aged(settings), dry_run=True)

    assert dry.dry_run and dry.summary().startswith("would prune")
    assert dry.rows["hitl_threads"] == 1
    assert dry.rows["checkpoints"] == before["checkpoints"] > 0
    assert dry.rows["hitl_runs"] == before["hitl_runs"] == 2
    assert dry.rows["hitl_events"] > 0 and dry.rows["hitl_audit"] > 0
    assert await count(service, "hitl_threads", done) == 1
    assert await count(service, "checkpoints", done) == before["checkpoints"]

    # The real thing deletes exactly what the dry run counted.
    real = await retention.prune(service.pool, aged(settings))
    assert real.rows == dry.rows


async def test_batches_of_two(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    threads = [await completed_thread(client) for _ in range(5)]
    await relay_all(service)
    await age_everything(service)
    batches: list[dict[str, int]] = []

    pruned = await retention.prune(
        service.pool, aged(settings, retention_batch_size=2), on_batch=batches.append
    )

    assert pruned.rows["hitl_threads"] == 5
    assert [b["hitl_threads"] for b in batches if "hitl_threads" in b] == [2, 2, 1]
    assert all(b.get("hitl_events", 0) <= 2 for b in batches)
    for thread_id in threads:
        assert await count(service, "hitl_threads", thread_id) == 0


async def test_young_rows_and_zero_ages_are_kept(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    done = await completed_thread(client)
    await relay_all(service)
    assert (await retention.prune(service.pool, aged(settings))).total == 0  # all young
    await age_everything(service)
    kept = await retention.prune(
        service.pool,
        aged(
            settings,
            retention_threads_seconds=0,
            retention_requests_seconds=0,
            retention_runs_seconds=0,
            retention_events_seconds=0,
            retention_audit_seconds=0,
        ),
    )
    assert kept.total == 0
    assert await count(service, "hitl_threads", done) == 1


async def test_checkpoint_history_trimmed_and_thread_still_resumable(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    thread_id = await interrupted_thread(client)
    before = await count(service, "checkpoints", thread_id)
    assert before > 1

    trimmed = await retention.prune(
        service.pool,
        settings.model_copy(
            update={
                "checkpoint_history_keep": 1,
                "retention_threads_seconds": 0,
                "retention_requests_seconds": 0,
                "retention_events_seconds": 0,
                "retention_deliveries_seconds": 0,
                "retention_audit_seconds": 0,
            }
        ),
    )

    assert trimmed.rows["checkpoints"] == before - 1
    assert await count(service, "checkpoints", thread_id) == 1
    [request] = await pending(client, thread_id)
    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    await wait_status(client, thread_id, "completed")
    body = (await client.get(f"/api/v1/threads/{thread_id}")).json()
    assert body["values"]["log"] == [["ask", "approve"], ["after"]]


async def test_the_service_prunes_periodically(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    done = await completed_thread(client)
    await relay_all(service)
    await age_everything(service)
    seen: list[dict[str, int]] = []
    observed = Metrics()
    async with Service.open(
        aged(settings, retention_interval=0.1, runner=False), observer=observed
    ) as other:
        other.on_pruned = seen.append
        for _ in range(100):
            if await count(service, "hitl_threads", done) == 0:
                break
            await asyncio.sleep(0.05)
    assert await count(service, "hitl_threads", done) == 0
    assert sum(b.get("hitl_threads", 0) for b in seen) == 1
    # and the metrics count what was deleted
    deleted = observed.registry.get_sample_value(
        "hitl_retention_deleted_rows_total", {"table": "hitl_threads"}
    )
    assert deleted == 1


async def test_finished_runs_of_live_threads_go_active_and_referenced_ones_stay(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    # A long-lived thread: two questions at once, one answered (two finished runs), one pending.
    live = await start(client, "parallel", {})
    assert (await settle(client, live))["status"] == "interrupted"
    by_side = {r["value"]["side"]: r for r in await pending(client, live)}
    assert (await respond(client, by_side["left"]["id"], "yes")).status_code == 200
    await wait_status(client, live, "interrupted")
    assert await count(service, "hitl_runs", live) == 2
    # A thread whose run is under way elsewhere (a lease nobody takes back during the test).
    busy = await interrupted_thread(client)
    await sql(service, "UPDATE hitl_threads SET status = 'running' WHERE thread_id = %s", busy)
    [active] = await sql(
        service,
        "INSERT INTO hitl_runs (thread_id, kind, status, lease_owner, lease_expires_at,"
        " attempts, created_at, started_at)"
        " VALUES (%s, 'resume', 'running', 'elsewhere:1:abc', now() + interval '60 seconds', 1,"
        "         now() - interval '40 days', now() - interval '40 days') RETURNING id",
        busy,
    )
    # A thread whose answer is recorded but not yet applied, tied to its finished start run.
    waiting = await interrupted_thread(client)
    [tied] = await sql(
        service,
        "UPDATE hitl_requests r SET state = 'responded', run_id = h.id,"
        ' response = \'{"decision": "approve"}\''
        " FROM hitl_runs h WHERE h.thread_id = r.thread_id AND r.thread_id = %s"
        " RETURNING h.id",
        waiting,
    )
    await sql(service, "UPDATE hitl_runs SET finished_at = now() - interval '40 days'")
    runs_only = aged(
        settings,
        retention_threads_seconds=0,
        retention_requests_seconds=0,
        retention_events_seconds=0,
        retention_deliveries_seconds=0,
        retention_audit_seconds=0,
    )

    dry = await retention.prune(service.pool, runs_only, dry_run=True)
    batches: list[dict[str, int]] = []
    pruned = await retention.prune(
        service.pool,
        runs_only.model_copy(update={"retention_batch_size": 2}),
        on_batch=batches.append,
    )

    # The live thread's two runs and the busy thread's finished start run: in batches of two.
    assert dry.rows["hitl_runs"] == pruned.rows["hitl_runs"] == 3 and pruned.total == 3
    assert [b["hitl_runs"] for b in batches] == [2, 1]
    assert await count(service, "hitl_runs", live) == 0
    left = await sql(
        service, "SELECT state, run_id FROM hitl_requests WHERE id = %s", by_side["left"]["id"]
    )
    assert left == [{"state": "resumed", "run_id": None}]  # kept, its run link cleared
    assert await sql(service, "SELECT id, status FROM hitl_runs WHERE thread_id = %s", busy) == [
        {"id": active["id"], "status": "running"}
    ]
    assert await sql(service, "SELECT id FROM hitl_runs WHERE thread_id = %s", waiting) == [tied]
    [right] = await pending(client, live)
    assert right["id"] == by_side["right"]["id"]

    # The live thread resumes from its checkpoint as if nothing had gone.
    assert (await respond(client, right["id"], {"decision": "approve"})).status_code == 200
    await wait_status(client, live, "completed")
    body = (await client.get(f"/api/v1/threads/{live}")).json()
    assert sorted(map(tuple, body["values"]["log"])) == [
        ("after",),
        ("left", "yes"),
        ("right", "approve"),
    ]


async def test_trimming_a_half_answered_thread_keeps_its_pending_writes(
    client: httpx.AsyncClient, service: Service, settings: Settings
) -> None:
    """Two questions at once, one answered: what the answered branch wrote is saved as pending
    writes of the newest checkpoint, and must survive the trim for the thread to finish right."""
    thread_id = await start(client, "parallel", {})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    by_side = {r["value"]["side"]: r for r in await pending(client, thread_id)}
    assert (await respond(client, by_side["left"]["id"], "yes")).status_code == 200
    await wait_status(client, thread_id, "interrupted")
    assert await count(service, "checkpoints", thread_id) > 1
    assert await count(service, "checkpoint_writes", thread_id) > 0

    trimmed = await retention.prune(
        service.pool,
        aged(
            settings,
            checkpoint_history_keep=1,
            retention_threads_seconds=0,
            retention_requests_seconds=0,
            retention_runs_seconds=0,
            retention_events_seconds=0,
            retention_deliveries_seconds=0,
            retention_audit_seconds=0,
        ),
    )

    assert trimmed.rows["checkpoints"] > 0
    assert await count(service, "checkpoints", thread_id) == 1
    assert await count(service, "checkpoint_writes", thread_id) > 0
    assert (
        await respond(client, by_side["right"]["id"], {"decision": "reject"})
    ).status_code == 200
    await wait_status(client, thread_id, "completed")
    body = (await client.get(f"/api/v1/threads/{thread_id}")).json()
    assert sorted(map(tuple, body["values"]["log"])) == [
        ("after",),
        ("left", "yes"),
        ("right", "reject"),
    ]
