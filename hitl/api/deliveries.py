"""Webhook deliveries: one with its attempts, a request's, and sending one again.

A caller with ``webhooks:admin`` sees and redelivers only deliveries to its own endpoints;
admins every delivery (`hitl.webhooks.delivery_log`)."""

from __future__ import annotations

from fastapi import APIRouter

from hitl import requests
from hitl.api.deps import CanAdminWebhooks, ServiceDep
from hitl.webhooks import delivery_log, endpoints
from hitl.webhooks.delivery_log import Delivery

router = APIRouter(tags=["webhooks"])


@router.get("/api/v1/deliveries/{delivery_id}", response_model=Delivery)
async def get_delivery(
    delivery_id: str, service: ServiceDep, principal: CanAdminWebhooks
) -> Delivery:
    async with service.pool.connection() as conn:
        return await delivery_log.get(conn, delivery_id, owner=endpoints.owner_filter(principal))


@router.post("/api/v1/deliveries/{delivery_id}/redeliver", status_code=202, response_model=Delivery)
async def redeliver(delivery_id: str, service: ServiceDep, principal: CanAdminWebhooks) -> Delivery:
    """Send it again now, with the same ``webhook-id``."""
    async with service.pool.connection() as conn:
        return await delivery_log.redeliver(
            conn, delivery_id, actor=principal.name, owner=endpoints.owner_filter(principal)
        )


@router.get("/api/v1/requests/{request_id}/deliveries", response_model=list[Delivery])
async def request_deliveries(
    request_id: str, service: ServiceDep, principal: CanAdminWebhooks
) -> list[Delivery]:
    """The request's deliveries (its callback and the events about it) to the caller's
    endpoints (an admin's: to every endpoint), oldest first."""
    async with service.pool.connection() as conn:
        request = await requests.get(conn, request_id)
        owner = endpoints.owner_filter(principal)
        return await delivery_log.of_request(conn, request.id, owner=owner)
