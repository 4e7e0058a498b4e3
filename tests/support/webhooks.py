"""Settings for tests that deliver webhooks to a receiver on this machine (`Receiver`)."""

from __future__ import annotations

from typing import Any

from hitl.config import Settings

#: Loopback receivers allowed (the SSRF guard refuses them by default) and quick retries.
LOCAL_DELIVERY: dict[str, Any] = {
    "webhook_allow_networks": "127.0.0.0/8",
    "webhook_retry_schedule": "0,0.2,0.2,0.2",
}


def delivering_locally(settings: Settings, **more: Any) -> Settings:
    """``settings`` with `LOCAL_DELIVERY`, and ``more`` over it."""
    return settings.model_copy(update={**LOCAL_DELIVERY, **more})
