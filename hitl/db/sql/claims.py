"""Claims on requests (``hitl_requests.claimed_*``, migration 0018): taking and releasing one.

Each statement is conditional on the request being pending and on the claim it replaces being
the caller's own, expired, or taken over by an admin (``takeover``); it writes the event and
the audit entry (with the claim before) in the same statement. No row: the condition failed.
"""

from __future__ import annotations

from hitl.db.sql.events import REQUEST_ABOUT


def _claim_statement(action: str, event: str, set_claim: str) -> str:
    return (
        """
WITH before AS (
    SELECT id, claimed_by, claim_expires_at FROM hitl_requests
    WHERE id = %(id)s AND state = 'pending'
      AND (claimed_by_subject IS NULL OR claimed_by_subject = %(subject)s
           OR claim_expires_at <= now() OR %(takeover)s)
    FOR UPDATE
), claimed AS (
    UPDATE hitl_requests r SET """
        + set_claim
        + """, updated_at = now()
    FROM before b WHERE r.id = b.id
    RETURNING r.*, b.claimed_by AS before_claimed_by, b.claim_expires_at AS before_expires_at
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT '"""
        + event
        + """', r.id::text,
           jsonb_build_object('by', %(actor)s::text, 'claimed_by', r.claimed_by,
                              'claim_expires_at', r.claim_expires_at) || """
        + REQUEST_ABOUT
        + """
    FROM claimed r
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, '"""
        + action
        + """', id::text, jsonb_build_object(
               'before', CASE WHEN before_expires_at > now() THEN before_claimed_by END,
               'claim_expires_at', claim_expires_at)
    FROM claimed
)
SELECT claimed.*, pg_notify('hitl_events', '') FROM claimed
"""
    )


# Claim (or renew one's own claim) for ``seconds``.
CLAIM_REQUEST = _claim_statement(
    "request.claim",
    "request.claimed",
    "claimed_by = %(actor)s, claimed_by_subject = %(subject)s, claimed_at = now(), "
    "claim_expires_at = now() + %(seconds)s::float8 * interval '1 second'",
)

# Release the claim.
UNCLAIM_REQUEST = _claim_statement(
    "request.unclaim",
    "request.unclaimed",
    "claimed_by = NULL, claimed_by_subject = NULL, claimed_at = NULL, claim_expires_at = NULL",
)
