"""The figures the Prometheus scrape reads from Postgres (hitl/metrics.py): pending requests,
requests and threads by state, the run queue, deliveries and notifications by state, disabled
endpoints, the outbox backlog.

Each statement reads one index range (the partial or leading-column indexes of migrations 0001
and 0002). The "by state" counts scan their index in full: O(rows) but index-only, and bounded
once retention prunes terminal rows."""

from __future__ import annotations

PENDING_REQUESTS = """
SELECT coalesce(graph, '') AS graph, kind, count(*) AS n,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest
FROM hitl_requests WHERE state = 'pending'
GROUP BY 1, 2
"""

REQUESTS_BY_STATE = "SELECT state, count(*) AS n FROM hitl_requests GROUP BY state"

THREADS_BY_STATUS = "SELECT status, count(*) AS n FROM hitl_threads GROUP BY status"

RUN_QUEUE = """
SELECT count(*) AS queued,
       coalesce(extract(epoch FROM now() - min(available_at)
                FILTER (WHERE available_at <= now())), 0)::float8 AS oldest,
       (SELECT count(*) FROM hitl_runs WHERE status = 'running') AS running
FROM hitl_runs WHERE status = 'queued'
"""

DELIVERIES_BY_STATE = "SELECT state, count(*) AS n FROM hitl_webhook_deliveries GROUP BY state"

NOTIFICATIONS_BY_STATUS = "SELECT status, count(*) AS n FROM hitl_notifications GROUP BY status"

DISABLED_ENDPOINTS = "SELECT count(*) AS n FROM hitl_webhook_endpoints WHERE NOT enabled"

UNRELAYED_EVENTS = """
SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest
FROM hitl_events WHERE relayed_at IS NULL
"""
