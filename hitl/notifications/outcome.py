"""What one attempt to send a notification came to, whatever the channel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    sent: bool
    error: str | None = None
    #: Retrying cannot help (a recipient refused for good, a webhook that is gone).
    permanent: bool = False
    status: int | None = None  # the HTTP status, for Slack
    retry_after: float | None = None  # seconds the receiver asked us to wait
