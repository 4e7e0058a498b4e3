"""One place that turns framework errors into HTTP responses with a ``detail``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hitl import errors


async def _hitl_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.HITLError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.HITLError, _hitl_error)
