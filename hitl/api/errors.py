"""One place that turns framework errors into HTTP responses with a ``detail``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hitl import errors


async def hitl_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.HITLError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.HITLError, hitl_error)
