"""Idempotency keys (``hitl_idempotency_keys``): claim, replay, complete, release, expire."""

from __future__ import annotations

# Take the key: a new one, or one whose holder died mid-way (lock lapsed) or that expired.
CLAIM_IDEMPOTENCY_KEY = """
INSERT INTO hitl_idempotency_keys AS k (scope, key, fingerprint, locked_until, expires_at)
VALUES (%(scope)s, %(key)s, %(fingerprint)s, now() + %(lock)s * interval '1 second',
        now() + %(keep)s * interval '1 second')
ON CONFLICT (scope, key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, locked_until = EXCLUDED.locked_until,
    expires_at = EXCLUDED.expires_at, created_at = now(), status_code = NULL, body = NULL
WHERE k.expires_at <= now()
   OR (k.status_code IS NULL AND k.locked_until <= now() AND k.fingerprint = EXCLUDED.fingerprint)
RETURNING true AS claimed
"""

GET_IDEMPOTENCY_KEY = "SELECT * FROM hitl_idempotency_keys WHERE scope = %s AND key = %s"

COMPLETE_IDEMPOTENCY_KEY = """
UPDATE hitl_idempotency_keys SET status_code = %(status)s, body = %(body)s, headers = %(headers)s
WHERE scope = %(scope)s AND key = %(key)s
"""

RELEASE_IDEMPOTENCY_KEY = """
DELETE FROM hitl_idempotency_keys WHERE scope = %s AND key = %s AND status_code IS NULL
"""

DELETE_EXPIRED_IDEMPOTENCY_KEYS = """
DELETE FROM hitl_idempotency_keys WHERE ctid IN (
    SELECT ctid FROM hitl_idempotency_keys WHERE expires_at <= now() LIMIT %s
)
"""
