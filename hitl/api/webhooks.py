"""``/api/v1/webhooks``: register endpoints, change them, rotate secrets, see deliveries.

An endpoint belongs to whoever registered it: a caller with ``webhooks:admin`` sees and changes
its own endpoints only (another's is 404), admins every one (`hitl.webhooks.endpoints`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from hitl import audit
from hitl.api.deps import CanAdminWebhooks, ServiceDep
from hitl.models import Page
from hitl.webhooks import delivery_log, endpoints
from hitl.webhooks.delivery_log import Delivery
from hitl.webhooks.endpoints import Endpoint, EndpointCreate, EndpointUpdate, EndpointWithSecret

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=EndpointWithSecret)
async def create_endpoint(
    body: EndpointCreate, service: ServiceDep, principal: CanAdminWebhooks
) -> EndpointWithSecret:
    """Register an endpoint, owned by the caller. The answer holds its signing ``secret``: the
    only time it is shown. 403 if a caller other than an admin gives ``shared_with``."""
    async with service.pool.connection() as conn, conn.transaction():
        created = await endpoints.create(conn, body, principal)
        await audit.record(
            conn,
            principal.name,
            "webhook.create",
            f"webhook:{created.id}",
            {
                "url": created.url,
                "events": created.events,
                "owner": created.owner,
                "shared_with": created.shared_with,
            },
        )
        return created


@router.get("", response_model=Page[Endpoint])
async def list_endpoints(
    service: ServiceDep,
    principal: CanAdminWebhooks,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[Endpoint]:
    """The caller's endpoints (an admin's: every endpoint), newest first."""
    async with service.pool.connection() as conn:
        return await endpoints.list_page(
            conn, owner=endpoints.owner_filter(principal), limit=limit, cursor=cursor
        )


@router.get("/{endpoint_id}", response_model=Endpoint)
async def get_endpoint(
    endpoint_id: str, service: ServiceDep, principal: CanAdminWebhooks
) -> Endpoint:
    async with service.pool.connection() as conn:
        return await endpoints.get(conn, endpoint_id, owner=endpoints.owner_filter(principal))


@router.patch("/{endpoint_id}", response_model=Endpoint)
async def update_endpoint(
    endpoint_id: str, body: EndpointUpdate, service: ServiceDep, principal: CanAdminWebhooks
) -> Endpoint:
    """Change ``events``, ``enabled``, ``description`` or (admins) ``shared_with``; enabling
    again clears the failures."""
    async with service.pool.connection() as conn, conn.transaction():
        updated = await endpoints.update(conn, endpoint_id, body, principal)
        changes = body.model_dump(mode="json", exclude_unset=True)
        await audit.record(conn, principal.name, "webhook.update", f"webhook:{updated.id}", changes)
        return updated


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(
    endpoint_id: str, service: ServiceDep, principal: CanAdminWebhooks
) -> Response:
    async with service.pool.connection() as conn, conn.transaction():
        await endpoints.delete(conn, endpoint_id, owner=endpoints.owner_filter(principal))
        await audit.record(conn, principal.name, "webhook.delete", f"webhook:{endpoint_id}")
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate_secret(
    endpoint_id: str, service: ServiceDep, principal: CanAdminWebhooks
) -> EndpointWithSecret:
    """A new secret; the old one keeps signing too until ``previous_secret_expires_at``."""
    grace = service.settings.webhook_secret_grace_seconds
    async with service.pool.connection() as conn, conn.transaction():
        rotated = await endpoints.rotate_secret(
            conn, endpoint_id, grace, owner=endpoints.owner_filter(principal)
        )
        await audit.record(
            conn,
            principal.name,
            "webhook.rotate_secret",
            f"webhook:{rotated.id}",
            {"previous_secret_expires_at": str(rotated.previous_secret_expires_at)},
        )
        return rotated


@router.get("/{endpoint_id}/deliveries", response_model=Page[Delivery])
async def endpoint_deliveries(
    endpoint_id: str,
    service: ServiceDep,
    principal: CanAdminWebhooks,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[Delivery]:
    """The endpoint's deliveries, newest first, each with every attempt."""
    async with service.pool.connection() as conn:
        endpoint = await endpoints.get(conn, endpoint_id, owner=endpoints.owner_filter(principal))
        return await delivery_log.of_endpoint(conn, endpoint.id, limit=limit, cursor=cursor)
