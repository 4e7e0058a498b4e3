"""``GET /api/v1/status``, the service at a glance for operators (the UI's ``/status`` too), and
``GET /metrics`` for Prometheus (see `hitl.metrics`).

Figures come from Postgres, so every process reports the same. Workers are the service
processes whose heartbeat (``hitl_workers``, see `hitl.workers`) is less than a minute old, idle
ones included, with the runs they hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from hitl import workers
from hitl.api.deps import Admin, Public, ServiceDep
from hitl.db.sql import status as status_sql
from hitl.metrics import CONTENT_TYPE, Metrics
from hitl.service import Service

router = APIRouter(tags=["status"])

# Delivery success is computed over the newest attempts only (a backward scan of the primary
# key, since attempts have no index on their time); more than this in an hour sets `capped`.
ATTEMPTS_SCANNED = 50_000


class Pending(BaseModel):
    count: int
    oldest_created_at: datetime | None
    oldest_age_seconds: float | None


class Runs(BaseModel):
    queued: int
    running: int
    oldest_queued_age_seconds: float


class Deliveries(BaseModel):
    """Webhook attempts of the last hour by outcome; ``success_rate`` is None without any."""

    attempts: int
    succeeded: int
    by_outcome: dict[str, int]
    success_rate: float | None
    capped: bool


class DisabledEndpoint(BaseModel):
    id: str
    url: str
    reason: str | None
    since: datetime


class Engine(BaseModel):
    reachable: bool
    version: str | None = None
    error: str | None = None


class Status(BaseModel):
    """What an operator looks at first. Figures are None when Postgres could not be read."""

    pending: Pending | None
    runs: Runs | None
    workers: list[workers.Worker] | None
    deliveries_last_hour: Deliveries | None
    disabled_endpoints: list[DisabledEndpoint] | None
    events_unrelayed: int | None
    postgres: Engine
    redis: Engine
    graphs: list[str]
    runner_here: bool


async def read_status(service: Service) -> Status:
    """The figures, with Postgres and Redis checked; an engine away shows, it does not raise."""
    figures: dict[str, Any] = dict.fromkeys(
        (
            "pending",
            "runs",
            "workers",
            "deliveries_last_hour",
            "disabled_endpoints",
            "events_unrelayed",
        )
    )
    try:
        async with service.pool.connection(timeout=5) as conn:
            version = await (await conn.execute("SHOW server_version")).fetchone()
            postgres = Engine(
                reachable=True, version=version["server_version"] if version else None
            )
            p = await (await conn.execute(status_sql.PENDING)).fetchone()
            figures["pending"] = Pending(
                count=p["n"], oldest_created_at=p["oldest"], oldest_age_seconds=p["oldest_age"]
            )
            r = await (await conn.execute(status_sql.RUNS)).fetchone()
            figures["runs"] = Runs(
                queued=r["queued"],
                running=r["running"],
                oldest_queued_age_seconds=r["oldest_queued_age"],
            )
            figures["workers"] = await workers.recent(
                conn,
                heartbeat_seconds=service.settings.worker_heartbeat_seconds,
                lease_seconds=service.settings.run_lease_seconds,
            )
            cur = await conn.execute(status_sql.ATTEMPTS_LAST_HOUR, {"scan": ATTEMPTS_SCANNED})
            figures["deliveries_last_hour"] = _deliveries(await cur.fetchall())
            cur = await conn.execute(status_sql.DISABLED_ENDPOINTS)
            figures["disabled_endpoints"] = [
                DisabledEndpoint(
                    id=e["id"], url=e["url"], reason=e["disabled_reason"], since=e["updated_at"]
                )
                for e in await cur.fetchall()
            ]
            u = await (await conn.execute(status_sql.UNRELAYED_EVENTS)).fetchone()
            figures["events_unrelayed"] = u["n"]
    except Exception as exc:
        postgres = Engine(reachable=False, error=str(exc) or type(exc).__name__)
    try:
        info = await service.redis.info("server")
        redis = Engine(reachable=True, version=str(info.get("redis_version")))
    except Exception as exc:
        redis = Engine(reachable=False, error=str(exc) or type(exc).__name__)
    return Status(
        **figures,
        postgres=postgres,
        redis=redis,
        graphs=service.registry.names(),
        runner_here=service.runner is not None,
    )


def _deliveries(rows: list[dict[str, Any]]) -> Deliveries:
    by_outcome = {row["outcome"]: int(row["n"]) for row in rows}
    attempts = sum(by_outcome.values())
    succeeded = by_outcome.get("succeeded", 0)
    return Deliveries(
        attempts=attempts,
        succeeded=succeeded,
        by_outcome=by_outcome,
        success_rate=succeeded / attempts if attempts else None,
        capped=any(row["capped"] for row in rows),
    )


@router.get("/api/v1/status", response_model=Status)
async def status(service: ServiceDep, _: Admin) -> Status:
    return await read_status(service)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, service: ServiceDep, _: Public) -> Response:
    """The Prometheus text format: this process's figures and the shared ones, read now."""
    found: Metrics = request.app.state.metrics
    body = await found.exposition(service.pool, service.registry.names())
    return Response(body, media_type=CONTENT_TYPE)
