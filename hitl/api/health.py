"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work).

``/readyz`` needs no credentials (load balancers call it), so it says per dependency only
``ok`` or ``failed: <a generic reason>``: a driver's error text names hosts, ports, user and
database names. The full error goes to the log, for the operator.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hitl import logcontext
from hitl.api.deps import Public, ServiceDep
from hitl.db import migrate

router = APIRouter(tags=["health"])
log = logging.getLogger("hitl.health")

CHECK_TIMEOUT = 5.0
_USERINFO = re.compile(r"(//)[^/@\s]*@")  # user:password@ in a URL


@router.get("/healthz")
async def healthz(_: Public) -> dict[str, str]:
    return {"status": "ok"}


def _failed(dependency: str, exc: BaseException) -> str:
    """The generic reason shown for a failed check; the error itself is logged."""
    reason = "timed out" if isinstance(exc, TimeoutError) else "unreachable"
    detail = _USERINFO.sub(r"\1***@", logcontext.redact(f"{type(exc).__name__}: {exc}"))
    log.warning("readiness: %s %s: %s", dependency, reason, detail)
    return f"failed: {reason}"


@router.get("/readyz")
async def readyz(service: ServiceDep, _: Public) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            current = await migrate.is_current(service.pool)
        checks["migrations"] = "ok" if current else "pending"
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = _failed("postgres", exc)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await service.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = _failed("redis", exc)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
