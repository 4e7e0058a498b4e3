"""Python clients for the HITL service's REST API: start threads, read the inbox, answer.

`HITLClient` is async (``async with HITLClient(url) as hitl: ...``); `SyncHITLClient` makes
the same calls blocking. Error statuses raise `HITLClientError` subclasses that carry the
status code and the server's ``detail``. `WebhookReceiver` verifies and dedupes the signed
webhooks the service sends to external agents; `resume_from_webhook` resumes a LangGraph graph
with the answer one carries.
"""

from __future__ import annotations

from hitl.sdk.client import (
    SETTLED,
    ConflictError,
    ForbiddenError,
    HITLClient,
    HITLClientError,
    InvalidInputError,
    NotFoundError,
    SyncHITLClient,
    UnauthenticatedError,
    WaitTimeout,
)
from hitl.sdk.receiver import (
    DedupeStore,
    SQLiteDedupeStore,
    WebhookMessage,
    WebhookReceiver,
    WebhookRejected,
)
from hitl.sdk.resume import resume_config, resume_from_webhook

__all__ = [
    "SETTLED",
    "ConflictError",
    "DedupeStore",
    "ForbiddenError",
    "HITLClient",
    "HITLClientError",
    "InvalidInputError",
    "NotFoundError",
    "SQLiteDedupeStore",
    "SyncHITLClient",
    "UnauthenticatedError",
    "WaitTimeout",
    "WebhookMessage",
    "WebhookReceiver",
    "WebhookRejected",
    "resume_config",
    "resume_from_webhook",
]
