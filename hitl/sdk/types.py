"""The shapes of the records the webhook calls of `hitl.sdk.HITLClient` return.

They are the JSON the service sends (plain dicts at run time), typed for the caller's checker;
the service's models (`hitl.webhooks.endpoints`, `hitl.webhooks.delivery_log`) are the source.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

DeliveryState = Literal["pending", "delivering", "succeeded", "failed"]


class Endpoint(TypedDict):
    """A registered webhook endpoint (without its secret)."""

    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    owner: str | None
    owner_name: str | None
    shared_with: list[str]
    disabled_reason: str | None
    failing_since: str | None
    previous_secret_expires_at: str | None
    created_at: str
    updated_at: str


class EndpointWithSecret(Endpoint):
    """The answer to a creation or a rotation: the only time ``secret`` is shown."""

    secret: str


class EndpointPage(TypedDict):
    items: list[Endpoint]
    next_cursor: str | None


class DeliveryAttempt(TypedDict):
    """One attempt of a delivery: when, its ``webhook-timestamp``, what came of it."""

    id: int
    attempt: int
    at: str
    webhook_timestamp: int | None
    outcome: Literal["succeeded", "failed", "blocked", "timeout", "error"]
    status_code: int | None
    latency_ms: float | None
    error: str | None
    response_excerpt: str | None


class Delivery(TypedDict):
    """One message to one endpoint; ``id`` is its ``webhook-id`` on every attempt."""

    id: str
    endpoint_id: str
    event_type: str
    kind: Literal["event", "callback"]
    request_id: str | None
    state: DeliveryState
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    payload: Any
    attempt_log: list[DeliveryAttempt]


class DeliveryPage(TypedDict):
    items: list[Delivery]
    next_cursor: str | None
