"""Notifications (``hitl_notifications``, ``hitl_notification_channels``): channels, claims
with a lease, outcomes, a request's notifications.

Rows are written by the 0006 migration's trigger on ``hitl_events``; these statements only
move them along ``pending -> sending -> sent | failed`` (hitl/notifications/queue.py)."""

from __future__ import annotations

# This process's channels become the ones the trigger queues for; returns what changed.
SET_CHANNELS = """
UPDATE hitl_notification_channels
SET enabled = (channel = ANY(%(channels)s::text[])), updated_at = now()
WHERE enabled IS DISTINCT FROM (channel = ANY(%(channels)s::text[]))
RETURNING channel, enabled
"""

# Due notifications of the channels this process can send, leased to it, with the request
# fields their message uses. The attempt is counted here: a sender that dies mid-send used it.
CLAIM = """
WITH picked AS (
    SELECT id FROM hitl_notifications
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND channel = ANY(%(channels)s::text[])
    ORDER BY next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE hitl_notifications n
    SET status = 'sending', lease_owner = %(owner)s, attempts = n.attempts + 1,
        lease_expires_at = now() + %(lease)s * interval '1 second', updated_at = now()
    FROM picked WHERE n.id = picked.id
    RETURNING n.id, n.channel, n.recipient, n.username, n.event_type, n.attempts, n.details,
              n.request_id
)
SELECT c.*, r.kind, r.graph, r.title, r.value, r.state, r.deadline_at, r.response_schema,
       r.claimed_by, r.claim_expires_at
FROM claimed c JOIN hitl_requests r ON r.id = c.request_id
ORDER BY c.id
"""

# An attempt's outcome, only while this sender still holds the notification.
RECORD = """
UPDATE hitl_notifications
SET status = %(status)s, next_attempt_at = now() + %(delay)s * interval '1 second',
    lease_owner = NULL, lease_expires_at = NULL, last_error = %(error)s, updated_at = now(),
    sent_at = CASE WHEN %(status)s::text = 'sent' THEN now() END
WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'sending'
RETURNING id
"""

HEARTBEAT = """
UPDATE hitl_notifications SET lease_expires_at = now() + %s * interval '1 second'
WHERE lease_owner = %s AND status = 'sending' AND id = ANY(%s)
"""

# Notifications whose sender stopped renewing its lease: due again (the attempt it was making
# counts), or failed if that was the last one.
REAP_EXPIRED = """
UPDATE hitl_notifications
SET status = CASE WHEN attempts >= %(max_attempts)s THEN 'failed' ELSE 'pending' END,
    last_error = 'the sender stopped during attempt ' || attempts || ' (its lease lapsed)',
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE status = 'sending' AND lease_expires_at < now()
RETURNING id, status
"""

# Given back unsent at shutdown: the attempt did not happen.
RELEASE = """
UPDATE hitl_notifications
SET status = 'pending', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL,
    updated_at = now()
WHERE lease_owner = %s AND status = 'sending' AND id = ANY(%s)
"""

OF_REQUEST = """
SELECT id, channel, recipient, username, event_id, event_type, request_id, status, attempts,
       next_attempt_at, last_error, created_at, updated_at, sent_at
FROM hitl_notifications WHERE request_id = %s ORDER BY created_at, id
"""
