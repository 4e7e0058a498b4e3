"""The API's own description, public: ``/openapi.json``, and ``/docs`` and ``/redoc`` to read it.

FastAPI would add these routes itself, as bare routes that declare nothing; they are served here
instead (the app is built with ``openapi_url=None``), so that they declare their permission like
every other route (`hitl.api.deps.Permission`).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse

from hitl.api.deps import Public

OPENAPI_URL = "/openapi.json"
# The docstrings that become descriptions mark code as reStructuredText does (``x``);
# the docs UIs and generated clients read Markdown, which marks it `x`.
_RST_CODE = re.compile(r"``(.+?)``", re.S)
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


@router.get(OPENAPI_URL)
async def openapi(request: Request, _: Public) -> JSONResponse:
    schema: dict[str, Any] = _markdown(request.app.openapi())
    if root := _root(request):
        if root not in {s.get("url") for s in schema.get("servers", [])}:
            schema = {**schema, "servers": [{"url": root}, *schema.get("servers", [])]}
    return JSONResponse(schema)


def _markdown(value: Any) -> Any:
    """A copy of the schema with every ``description`` in Markdown's code marks."""
    if isinstance(value, dict):
        return {
            k: _RST_CODE.sub(r"`\1`", v)
            if k == "description" and isinstance(v, str)
            else _markdown(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_markdown(v) for v in value]
    return value


@router.get("/docs")
async def swagger_ui(request: Request, _: Public) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=_root(request) + OPENAPI_URL,
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=_root(request) + OAUTH2_REDIRECT_URL,
    )


@router.get(OAUTH2_REDIRECT_URL)
async def swagger_ui_redirect(_: Public) -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request, _: Public) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=_root(request) + OPENAPI_URL, title=f"{request.app.title} - ReDoc"
    )
