"""Dependencies shared by the routes.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a thread pool,
a thread hop per dependency per request for what is a dictionary lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hitl.service import Service


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


async def actor(request: Request) -> str:
    """Who is acting. Until accounts exist, an ``X-HITL-Actor`` header names the person."""
    return request.headers.get("x-hitl-actor", "anonymous")[:200]


ActorDep = Annotated[str, Depends(actor)]
