"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hitl.api.deps import Public, ServiceDep
from hitl.db import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(_: Public) -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(service: ServiceDep, _: Public) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        checks["migrations"] = "ok" if await migrate.is_current(service.pool) else "pending"
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"unreachable: {exc}"
    try:
        await service.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
