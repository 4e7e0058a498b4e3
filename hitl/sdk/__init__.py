"""Python clients for the HITL service's REST API: start threads, read the inbox, answer.

`HITLClient` is async (``async with HITLClient(url) as hitl: ...``); `SyncHITLClient` makes
the same calls blocking; their ``ask()`` puts a question to a person and returns the answer
as a pydantic model (`hitl.sdk.ask`). Error statuses raise `HITLClientError` subclasses that
carry the status code and the server's ``detail``. `WebhookReceiver` verifies and dedupes the signed
webhooks the service sends to external agents, and takes a callback only for a request the
agent created (recorded in a `CreatedRequests` store); `resume_from_webhook` resumes a
LangGraph graph with the answer one carries, or returns a `RequestEnded` for a request that
expired or was withdrawn unanswered.

The SDK is a client: it imports httpx, standardwebhooks and `hitl.errors` (dependency-free),
nothing of the server, so it also ships alone as the ``hitl-sdk`` wheel (``sdk/``). LangGraph
is imported by `resume_from_webhook` when called (the caller has a graph, so has LangGraph);
`RedisCreatedRequests` uses the Redis client its caller passes in.
"""

from __future__ import annotations

from hitl.sdk._calls import SETTLED
from hitl.sdk.client import HITLClient
from hitl.sdk.created import CreatedRequests, RedisCreatedRequests, SQLiteCreatedRequests
from hitl.sdk.errors import (
    ConflictError,
    ForbiddenError,
    HITLClientError,
    InvalidInputError,
    NotFoundError,
    RequestClosed,
    RequestExpired,
    RequestWithdrawn,
    UnauthenticatedError,
    WaitTimeout,
)
from hitl.sdk.receiver import (
    CallbackRefused,
    DedupeStore,
    SQLiteDedupeStore,
    WebhookMessage,
    WebhookReceiver,
    WebhookRejected,
)
from hitl.sdk.resume import RequestEnded, resume_config, resume_from_webhook
from hitl.sdk.sync_client import SyncHITLClient

__all__ = [
    "SETTLED",
    "CallbackRefused",
    "ConflictError",
    "CreatedRequests",
    "DedupeStore",
    "ForbiddenError",
    "HITLClient",
    "HITLClientError",
    "InvalidInputError",
    "NotFoundError",
    "RedisCreatedRequests",
    "RequestClosed",
    "RequestEnded",
    "RequestExpired",
    "RequestWithdrawn",
    "SQLiteCreatedRequests",
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
