"""Webhook deliveries and their attempts (``hitl_webhook_deliveries``, ``hitl_webhook_attempts``).

Deliveries are queued by a trigger on ``hitl_events`` (see the migrations), claimed with
``FOR UPDATE SKIP LOCKED`` and a lease, and their outcomes recorded a batch at a time.
"""

from __future__ import annotations

# Due deliveries, leased to this worker, with what sending them needs. The endpoint's previous
# secret comes along while its grace period lasts.
# ``manual`` comes back as it was (this attempt is a redelivery) and is cleared, so that a
# redelivery asked for while the attempt is under way can set it again (see RECORD_ATTEMPTS).
CLAIM_DELIVERIES = """
WITH picked AS (
    SELECT id, manual FROM hitl_webhook_deliveries
    WHERE state = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE hitl_webhook_deliveries d
    SET state = 'delivering', lease_owner = %(owner)s, manual = false,
        lease_expires_at = now() + %(lease)s * interval '1 second', updated_at = now()
    FROM picked WHERE d.id = picked.id
    RETURNING d.id, d.endpoint_id, d.body, d.attempts, picked.manual, d.event_type
)
SELECT c.*, e.url, e.enabled, e.secret,
       CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END
           AS previous_secret
FROM claimed c JOIN hitl_webhook_endpoints e ON e.id = c.endpoint_id
ORDER BY c.id
"""

# Deliveries whose worker stopped renewing its lease are due again.
REAP_EXPIRED_DELIVERIES = """
UPDATE hitl_webhook_deliveries
SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE state = 'delivering' AND lease_expires_at < now()
RETURNING id
"""

HEARTBEAT_DELIVERIES = """
UPDATE hitl_webhook_deliveries SET lease_expires_at = now() + %s * interval '1 second'
WHERE lease_owner = %s AND state = 'delivering' AND id = ANY(%s)
"""

RELEASE_DELIVERIES = """
UPDATE hitl_webhook_deliveries
SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE lease_owner = %s AND state = 'delivering' AND id = ANY(%s)
"""

# The outcomes of many attempts, recorded at once (one round trip for a batch): each attempt's
# log entry and its consequence for the delivery (only while this worker holds it: the attempt
# happened either way) and for its endpoint's failure streak, which a success in the batch ends
# and a failure starts (the endpoint row is written only when the streak changes). Returns the
# endpoints failing for longer than the limit, for the disable-after check. A redelivery asked
# for while the attempt was under way (``manual`` set again since the claim) makes the delivery
# due again at once instead of settling it.
RECORD_ATTEMPTS = """
WITH o AS (
    SELECT * FROM jsonb_to_recordset(%(outcomes)s)
        AS o(id uuid, timestamp bigint, outcome text, status integer, latency float8,
             error text, excerpt text, state text, delay float8)
), attempt AS (
    INSERT INTO hitl_webhook_attempts (delivery_id, attempt, webhook_timestamp, outcome,
                                       status_code, latency_ms, error, response_excerpt)
    SELECT o.id, d.attempts + 1, o.timestamp, o.outcome, o.status, o.latency, o.error,
           o.excerpt
    FROM o JOIN hitl_webhook_deliveries d ON d.id = o.id
), delivery AS (
    UPDATE hitl_webhook_deliveries d
    SET state = CASE WHEN d.manual THEN 'pending' ELSE o.state END,
        attempts = d.attempts + 1,
        next_attempt_at = CASE WHEN d.manual THEN now()
                               ELSE now() + o.delay * interval '1 second' END,
        lease_owner = NULL, lease_expires_at = NULL, last_status = o.status,
        last_error = o.error, updated_at = now(),
        delivered_at = CASE WHEN o.outcome = 'succeeded' THEN now() ELSE d.delivered_at END
    FROM o
    WHERE d.id = o.id AND d.lease_owner = %(owner)s AND d.state = 'delivering'
    RETURNING d.endpoint_id, d.kind, d.request_id, d.state, o.outcome
), callback AS (
    UPDATE hitl_requests r SET callback_state = d.state
    FROM delivery d WHERE d.kind = 'callback' AND r.id = d.request_id
), ends AS (
    SELECT endpoint_id, bool_or(outcome = 'succeeded') AS ok FROM delivery GROUP BY endpoint_id
), streak AS (
    UPDATE hitl_webhook_endpoints e
    SET failing_since = CASE WHEN s.ok THEN NULL ELSE now() END
    FROM ends s
    WHERE e.id = s.endpoint_id AND s.ok = (e.failing_since IS NOT NULL)
)
SELECT s.endpoint_id FROM ends s JOIN hitl_webhook_endpoints e ON e.id = s.endpoint_id
WHERE NOT s.ok AND e.failing_since <= now() - %(disable_after)s * interval '1 second'
"""

# Deliveries with their attempts (oldest first), and the condition that keeps a non-admin
# caller (``owner``, a principal's subject; NULL for admins) to its own endpoints' deliveries.
_WITH_ATTEMPTS = """
SELECT d.*, coalesce(a.attempts_log, '[]'::jsonb) AS attempts_log
FROM hitl_webhook_deliveries d
LEFT JOIN LATERAL (
    SELECT jsonb_agg(to_jsonb(a) - 'delivery_id' ORDER BY a.id) AS attempts_log
    FROM hitl_webhook_attempts a WHERE a.delivery_id = d.id
) a ON true
"""
_OWNED = """  AND (%(owner)s::text IS NULL
       OR d.endpoint_id IN (SELECT id FROM hitl_webhook_endpoints WHERE owner = %(owner)s))
"""

GET_DELIVERY = (
    _WITH_ATTEMPTS
    + """WHERE d.id = %(id)s
"""
    + _OWNED
)

LIST_DELIVERIES_OF_ENDPOINT = (
    _WITH_ATTEMPTS
    + """WHERE d.endpoint_id = %(endpoint_id)s
  AND (%(at)s::timestamptz IS NULL OR (d.created_at, d.id) < (%(at)s, %(key)s::uuid))
ORDER BY d.created_at DESC, d.id DESC
LIMIT %(limit)s
"""
)

LIST_DELIVERIES_OF_REQUEST = (
    _WITH_ATTEMPTS
    + """WHERE d.request_id = %(request_id)s
"""
    + _OWNED
    + """ORDER BY d.created_at, d.id
"""
)

# Send again now, with the same webhook-id: a delivery still in its schedule just moves its
# next attempt forward; a finished one gets one more attempt outside the schedule.
REDELIVER = """
WITH delivery AS (
    UPDATE hitl_webhook_deliveries
    SET next_attempt_at = now(), updated_at = now(),
        manual = state IN ('succeeded', 'failed', 'delivering') OR manual,
        state = CASE WHEN state = 'delivering' THEN state ELSE 'pending' END
    WHERE id = %(id)s
      AND (%(owner)s::text IS NULL
           OR endpoint_id IN (SELECT id FROM hitl_webhook_endpoints WHERE owner = %(owner)s))
    RETURNING id, kind, request_id, state
), callback AS (
    UPDATE hitl_requests r SET callback_state = d.state
    FROM delivery d WHERE d.kind = 'callback' AND r.id = d.request_id
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'delivery.redeliver', coalesce(request_id::text, id::text),
           jsonb_build_object('delivery_id', id, 'kind', kind)
    FROM delivery
)
SELECT id, pg_notify('hitl_webhooks', '') FROM delivery
"""
