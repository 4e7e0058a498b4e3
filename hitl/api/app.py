"""The FastAPI application: routes, error handling, limits, and the service's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from hitl import agent_server, mcp_server, ui
from hitl.api import (
    comments,
    delegations,
    deliveries,
    docs,
    errors,
    external,
    graphs,
    health,
    identity,
    requests,
    slack,
    status,
    threads,
    votes,
    webhooks,
)
from hitl.api.limits import BodyLimits
from hitl.api.refusals import StartupRefusals
from hitl.auth import bootstrap
from hitl.config import Settings
from hitl.metrics import HTTPMetrics, Metrics
from hitl.registry import GraphRegistry
from hitl.service import Service


def create_app(settings: Settings | None = None, registry: GraphRegistry | None = None) -> FastAPI:
    """Build the app; the service (engines, pool, runner) starts with the app's lifespan."""
    settings = settings or Settings()
    metrics = Metrics()  # this app's own registry

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Service.open(settings, registry, observer=metrics) as service:
            await bootstrap.ensure_admin(service.pool, settings)
            app.state.service = service
            async with mcp_server.running(app):
                yield

    app = FastAPI(
        title="HITL",
        summary="Human-in-the-loop orchestration for LangGraph",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,  # served by `docs`, which declares the permission it needs
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(
        BodyLimits, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth
    )
    app.add_middleware(HTTPMetrics, metrics=metrics)  # sees every response
    # Outermost: the scheme and client address a trusted proxy forwards hold for all the rest
    # (the Secure session cookie, sign-in throttling by address). Here rather than in uvicorn
    # so that every way of running the app (`hitl serve`, an ASGI server, tests) does the same.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_proxies)
    # A refusal to start (no admin on a public address, ...) as one line, not a traceback.
    app.add_middleware(StartupRefusals)
    app.state.metrics = metrics
    errors.install(app)
    # The router tries the routers in this order: the calls of every cycle first.
    documented = errors.RESPONSES
    app.include_router(threads.router, responses=documented)
    app.include_router(requests.router, responses=documented)
    app.include_router(comments.router, responses=documented)
    app.include_router(votes.router, responses=documented)
    app.include_router(delegations.router, responses=documented)
    agent_server.install(app)  # LangGraph's Agent Server API, under /lg
    app.include_router(health.router, responses={503: {"description": "Not ready."}})
    app.include_router(graphs.router, responses=documented)
    app.include_router(external.router, responses=documented)
    app.include_router(webhooks.router, responses=documented)
    app.include_router(deliveries.router, responses=documented)
    app.include_router(identity.router, responses=documented)
    app.include_router(status.router, responses=documented)  # /api/v1/status and /metrics
    app.include_router(docs.router)
    mcp_server.install(app)  # the MCP server for agents, at /mcp
    app.include_router(slack.router)  # Slack app mode's interactivity requests
    ui.install(app)
    return app
