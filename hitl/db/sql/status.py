"""The operator's status page (hitl/api/status.py): pending requests, the run queue, webhook
success over the last hour, disabled endpoints, the outbox backlog.

Read-only, across ``hitl_requests``, ``hitl_runs``, ``hitl_webhook_attempts``,
``hitl_webhook_endpoints`` and ``hitl_events``; each a bounded index read."""

from __future__ import annotations

PENDING = """
SELECT count(*) AS n, min(created_at) AS oldest,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest_age
FROM hitl_requests WHERE state = 'pending'
"""

RUNS = """
SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
       count(*) FILTER (WHERE status = 'running') AS running,
       coalesce(extract(epoch FROM now() - min(available_at)
                FILTER (WHERE status = 'queued' AND available_at <= now())), 0)::float8
           AS oldest_queued_age
FROM hitl_runs WHERE status IN ('queued', 'running')
"""

ATTEMPTS_LAST_HOUR = """
SELECT outcome, count(*) AS n, bool_or(scanned = %(scan)s) AS capped
FROM (
    SELECT outcome, at, count(*) OVER () AS scanned
    FROM (SELECT outcome, at FROM hitl_webhook_attempts ORDER BY id DESC LIMIT %(scan)s) newest
) a
WHERE at > now() - interval '1 hour'
GROUP BY outcome
"""

DISABLED_ENDPOINTS = """
SELECT id::text, url, disabled_reason, updated_at FROM hitl_webhook_endpoints
WHERE NOT enabled ORDER BY updated_at DESC LIMIT 50
"""

UNRELAYED_EVENTS = "SELECT count(*) AS n FROM hitl_events WHERE relayed_at IS NULL"
