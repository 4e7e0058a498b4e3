"""Webhooks: endpoints people register, signed deliveries with retries, and the SSRF guard.

How a state change becomes webhooks, atomically (a transactional outbox): every state change
already writes its event to ``hitl_events`` in the statement that makes the change
(`hitl.db.sql`: thread creation, answers, a run's result, external requests). A Postgres
trigger on that table (``hitl_fan_out_event``, migration 0002) inserts one row in
``hitl_webhook_deliveries`` per enabled endpoint subscribed to the event's type, and, when an
external request is answered, the callback to the request's endpoint with the callback payload.
So the event and its deliveries commit with the change or not at all, whichever code path made
it, and no path had to change. The trigger also NOTIFYs ``hitl_webhooks`` to wake the delivery
workers (`hitl.webhooks.deliverer`), which claim due deliveries with ``FOR UPDATE SKIP LOCKED``
and a lease, sign and send them, and log every attempt.
"""

from __future__ import annotations

EVENT_TYPES = (
    "request.created",
    "request.responded",
    "request.expired",
    "request.cancelled",
    "request.assigned",
    "request.escalated",
    "request.reminded",
    "thread.interrupted",
    "thread.completed",
    "thread.failed",
)
"""Event types an endpoint can subscribe to (``*`` subscribes to all, these and future ones)."""
