"""The web UI where people answer: inbox, request pages with generated forms, threads.

Server-rendered (Jinja2, autoescaped) with a little plain JavaScript for live updates; static
files ship inside the package, so there is no build step and nothing is fetched at run time.
`install(app)` adds the pages, the ``/ui/events`` stream, a thread's progress stream
(``/ui/threads/{id}/progress``) and ``/ui/static``. Each page asks
what the API route serving the same data asks (`hitl.ui.permissions`).
"""

from __future__ import annotations

from fastapi import FastAPI

from hitl.ui import (
    account,
    admin,
    answer_links,
    assets,
    auth,
    bulk,
    live,
    progress,
    routes,
    status,
)
from hitl.ui.assets import STATIC_DIR

__all__ = ["STATIC_DIR", "install"]


def install(app: FastAPI) -> None:
    """Serve the UI from ``app``: ``/``, ``/requests/...``, ``/threads...``, ``/status``."""
    auth.install(app)  # /login, /logout, and the redirect to /login for pages
    app.include_router(routes.router)
    app.include_router(admin.router)
    app.include_router(account.router)
    app.include_router(bulk.router)
    app.include_router(answer_links.router)
    app.include_router(live.router)
    app.include_router(progress.router)
    app.include_router(status.router)
    app.include_router(assets.router)
