"""The API's own description, public: ``/openapi.json``, and ``/docs`` to read it.

FastAPI would add these routes itself, as bare routes that declare nothing; they are served here
instead (the app is built with ``openapi_url=None``), so that they declare their permission like
every other route (`hitl.api.deps.Permission`). Swagger UI's files come from the
``swagger-ui-bundle`` package, served under ``/docs/assets/``: nothing loads from a CDN, so the
page works offline. ``/redoc`` (ReDoc has no such package) sends the reader to ``/docs``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from hitl.api.deps import Public
from hitl.ui.assets import relative

OPENAPI_URL = "/openapi.json"
# The docstrings that become descriptions mark code as reStructuredText does (``x``);
# the docs UIs and generated clients read Markdown, which marks it `x`.
_RST_CODE = re.compile(r"``(.+?)``", re.S)
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"
_assets = StaticFiles(directory=str(swagger_ui_path))

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
    assets = _root(request) + ASSETS_URL
    return get_swagger_ui_html(
        openapi_url=_root(request) + OPENAPI_URL,
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=_root(request) + OAUTH2_REDIRECT_URL,
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
    )


@router.api_route(ASSETS_URL + "/{path:path}", methods=["GET", "HEAD"], name="docs-assets")
async def swagger_ui_assets(request: Request, path: str, _: Public) -> Response:
    return await _assets.get_response(relative(path), request.scope)


@router.get(OAUTH2_REDIRECT_URL)
async def swagger_ui_redirect(_: Public) -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request, _: Public) -> RedirectResponse:
    """ReDoc would load from a CDN: the same description is at ``/docs``."""
    return RedirectResponse(_root(request) + "/docs", status_code=307)
