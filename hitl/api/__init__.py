"""The HTTP API (``/api/v1``) and health checks."""

from __future__ import annotations

from hitl.api.app import create_app

__all__ = ["create_app"]
