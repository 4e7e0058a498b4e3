"""``/api/v1/webhooks``: register endpoints, change them, rotate secrets, see deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from hitl.api.deps import ServiceDep
from hitl.models import Page
from hitl.webhooks import deliveries, endpoints
from hitl.webhooks.deliveries import Delivery
from hitl.webhooks.endpoints import Endpoint, EndpointCreate, EndpointUpdate, EndpointWithSecret

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=EndpointWithSecret)
async def create_endpoint(body: EndpointCreate, service: ServiceDep) -> EndpointWithSecret:
    """Register an endpoint. The answer holds its signing ``secret``: the only time it is shown."""
    async with service.pool.connection() as conn:
        return await endpoints.create(conn, body)


@router.get("", response_model=Page[Endpoint])
async def list_endpoints(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[Endpoint]:
    async with service.pool.connection() as conn:
        return await endpoints.list_page(conn, limit=limit, cursor=cursor)


@router.get("/{endpoint_id}", response_model=Endpoint)
async def get_endpoint(endpoint_id: str, service: ServiceDep) -> Endpoint:
    async with service.pool.connection() as conn:
        return await endpoints.get(conn, endpoint_id)


@router.patch("/{endpoint_id}", response_model=Endpoint)
async def update_endpoint(endpoint_id: str, body: EndpointUpdate, service: ServiceDep) -> Endpoint:
    """Change ``events``, ``enabled`` or ``description``; enabling again clears the failures."""
    async with service.pool.connection() as conn:
        return await endpoints.update(conn, endpoint_id, body)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(endpoint_id: str, service: ServiceDep) -> Response:
    async with service.pool.connection() as conn:
        await endpoints.delete(conn, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate_secret(endpoint_id: str, service: ServiceDep) -> EndpointWithSecret:
    """A new secret; the old one keeps signing too until ``previous_secret_expires_at``."""
    grace = service.settings.webhook_secret_grace_seconds
    async with service.pool.connection() as conn:
        return await endpoints.rotate_secret(conn, endpoint_id, grace)


@router.get("/{endpoint_id}/deliveries", response_model=Page[Delivery])
async def endpoint_deliveries(
    endpoint_id: str,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[Delivery]:
    """The endpoint's deliveries, newest first, each with every attempt."""
    async with service.pool.connection() as conn:
        endpoint = await endpoints.get(conn, endpoint_id)
        return await deliveries.of_endpoint(conn, endpoint.id, limit=limit, cursor=cursor)
