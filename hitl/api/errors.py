"""One place that turns framework errors into HTTP responses with a ``detail``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hitl import errors


class ErrorPublic(BaseModel):
    """What every error answers: ``detail`` is a message, a list of ``{loc, msg, type}`` (as
    in 422s), or an object (a 409 with the request's current state)."""

    detail: str | list[dict[str, Any]] | dict[str, Any]


# Where the API is served (the Agent Server door and the MCP server included): errors there are
# JSON, never pages.
API_PATHS = ("/api/", "/lg/", "/mcp")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorPublic, "description": description}


#: The errors every ``/api/v1`` operation may answer, documented in the OpenAPI (422 is
#: documented by FastAPI for every operation with parameters or a body).
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("No API key or session, or not a valid one."),
    403: _error("The key or account lacks the scope, or may not answer this request."),
    404: _error("No such graph, thread, request, endpoint, delivery, user or key."),
    409: _error("The state does not allow it: already answered, already exists, ..."),
    413: _error("The body is larger than HITL_MAX_BODY_BYTES."),
}


async def hitl_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.HITLError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.HITLError, hitl_error)
