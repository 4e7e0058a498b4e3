"""``/ui/static/...``: the UI's stylesheet, script and icon, public (the login page uses them
too); and ``/favicon.ico``, the icon again for pages that do not name one (the API docs).

A route serves them rather than a mounted `StaticFiles` app, so that it declares its permission
like every other route (`hitl.api.deps.Permission`); `StaticFiles` still does the work (a path
stays inside the folder, ``ETag`` and ``If-None-Match``, ``HEAD``).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from hitl.api.deps import Public

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)
files = StaticFiles(directory=STATIC_DIR)


@router.api_route("/ui/static/{path:path}", methods=["GET", "HEAD"], name="ui-static")
async def static(request: Request, path: str, _: Public) -> Response:
    return await files.get_response(relative(path), request.scope)


@router.get("/favicon.ico", name="favicon")
async def favicon(_: Public) -> FileResponse:
    """Browsers ask for it on every page that names no icon: the UI's icon, not a 404."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def relative(path: str) -> str:
    """As `StaticFiles.get_path` makes it for a mounted app: the OS's separators, ``.`` and
    ``..`` resolved (`StaticFiles.lookup_path` then refuses a path that leaves the folder)."""
    return os.path.normpath(os.path.join(*path.split("/")))
