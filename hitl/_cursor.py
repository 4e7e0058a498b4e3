"""Opaque keyset cursors: the sort key of the last item of a page.

A cursor comes back from the client, so `decode` trusts nothing in it: anything but what
`encode` makes (base64 of ``[ISO time with offset, key]``) is refused with 422 before it
reaches a query, where a key that is not a UUID or holds a NUL byte, or a time Postgres cannot
compare, would fail as a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from hitl import errors

#: Longer cursors are not ours (``encode`` makes well under 200 characters for keys of 200).
MAX_LENGTH = 1_000


def encode(at: datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, *, uuid_key: bool = False) -> tuple[datetime, str]:
    """The sort key in ``cursor``; ``uuid_key`` for listings keyed by UUID. Raises
    `errors.InvalidInput` (422, at ``query.cursor``) for anything `encode` does not make."""
    try:
        if len(cursor) > MAX_LENGTH:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(b'["'):  # a flat array, so the parser never recurses far
            raise ValueError("not a cursor")
        decoded = json.loads(raw)
        if not (isinstance(decoded, list) and len(decoded) == 2):
            raise ValueError("not a pair")
        at, key = decoded
        if not (isinstance(at, str) and isinstance(key, str)) or "\x00" in key:
            raise ValueError("not strings")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("no time zone")
        if uuid_key:
            key = str(uuid.UUID(key))
        return when, key
    except (ValueError, TypeError, binascii.Error, RecursionError, OverflowError) as exc:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["query", "cursor"],
                    "msg": "not a cursor from this API",
                    "type": "value_error",
                }
            ]
        ) from exc
