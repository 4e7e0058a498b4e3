"""Threads (``hitl_threads``): creating, reading and listing them.

A thread's status is also written by the run statements (hitl/db/sql/runs.py) and the answer
statements (hitl/db/sql/requests.py); these are the thread's own.
"""

from __future__ import annotations

# A new thread, its start run, its event and audit entry: one statement, so one round trip.
# No row comes back when the thread id is taken.
CREATE_THREAD = """
WITH thread AS (
    INSERT INTO hitl_threads (thread_id, graph, metadata)
    VALUES (%(thread_id)s, %(graph)s, %(metadata)s)
    ON CONFLICT (thread_id) DO NOTHING
    RETURNING *
), run AS (
    INSERT INTO hitl_runs (thread_id, kind, input)
    SELECT thread_id, 'start', %(input)s FROM thread
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'thread.created', thread_id,
           jsonb_build_object('thread_id', thread_id, 'graph', graph)
    FROM thread
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'thread.create', thread_id, jsonb_build_object('graph', graph)
    FROM thread
)
SELECT thread.*, pg_notify('hitl_runs', ''), pg_notify('hitl_events', '') FROM thread
"""

GET_THREAD = "SELECT * FROM hitl_threads WHERE thread_id = %s"

# A thread with its pending requests (oldest first), in one round trip.
GET_THREAD_WITH_PENDING = """
SELECT t.*, coalesce(p.requests, '[]'::jsonb) AS pending
FROM hitl_threads t
LEFT JOIN LATERAL (
    SELECT jsonb_agg(to_jsonb(r) ORDER BY r.created_at, r.id) AS requests
    FROM hitl_requests r WHERE r.thread_id = t.thread_id AND r.state = 'pending'
) p ON true
WHERE t.thread_id = %s
"""


# Listing: keyset pagination on (updated_at, thread_id), newest first, always index-backed.
# The filters and the cursor are optional; NULL parameters switch them off.
LIST_THREADS = """
SELECT thread_id, graph, status, metadata, error, created_at, updated_at FROM hitl_threads
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(graph)s::text IS NULL OR graph = %(graph)s)
  AND (%(at)s::timestamptz IS NULL OR (updated_at, thread_id) < (%(at)s, %(key)s))
ORDER BY updated_at DESC, thread_id DESC
LIMIT %(limit)s
"""

# A thread with no run yet (the Agent Server door's POST /threads, or a run's
# ``if_not_exists: create``), idle, with its event and audit entry; no row when the id is taken.
CREATE_EMPTY_THREAD = """
WITH thread AS (
    INSERT INTO hitl_threads (thread_id, graph, metadata, status)
    VALUES (%(thread_id)s, %(graph)s, %(metadata)s, 'idle')
    ON CONFLICT (thread_id) DO NOTHING
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'thread.created', thread_id,
           jsonb_build_object('thread_id', thread_id, 'graph', graph)
    FROM thread
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'thread.create', thread_id, jsonb_build_object('graph', graph)
    FROM thread
)
SELECT thread.*, pg_notify('hitl_events', '') FROM thread
"""
