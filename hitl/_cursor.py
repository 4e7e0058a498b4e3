"""Opaque keyset cursors: the sort key of the last item of a page."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from hitl import errors


def encode(at: datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
        return datetime.fromisoformat(at), str(key)
    except (ValueError, TypeError) as exc:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["query", "cursor"],
                    "msg": "not a cursor from this API",
                    "type": "value_error",
                }
            ]
        ) from exc
