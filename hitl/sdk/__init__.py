"""Python clients for the HITL service's REST API: start threads, read the inbox, answer.

`HITLClient` is async (``async with HITLClient(url) as hitl: ...``); `SyncHITLClient` makes
the same calls blocking. Error statuses raise `HITLClientError` subclasses that carry the
status code and the server's ``detail``.
"""

from __future__ import annotations

from hitl.sdk.client import (
    SETTLED,
    ConflictError,
    HITLClient,
    HITLClientError,
    InvalidInputError,
    NotFoundError,
    SyncHITLClient,
    WaitTimeout,
)

__all__ = [
    "SETTLED",
    "ConflictError",
    "HITLClient",
    "HITLClientError",
    "InvalidInputError",
    "NotFoundError",
    "SyncHITLClient",
    "WaitTimeout",
]
