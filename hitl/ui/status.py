"""The admin page ``/status``: the figures of ``GET /api/v1/status``, for people."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hitl.api.status import read_status
from hitl.ui import pages
from hitl.ui.auth import service_of
from hitl.ui.permissions import Admin

router = APIRouter(include_in_schema=False)


@router.get("/status", response_class=HTMLResponse)
async def status_page(request: Request, _: Admin) -> HTMLResponse:
    status = await read_status(service_of(request))
    return pages.render_page(request, "status.html", status=status, duration=duration)


def duration(seconds: float | None) -> str:
    """``"3 min"``: a span in the largest unit that fits (the age of the oldest request...)."""
    if seconds is None:
        return "-"
    whole = max(0, int(seconds))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if whole >= size:
            return f"{whole // size} {unit}"
    return f"{whole} s"
