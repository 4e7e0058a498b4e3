"""Every SQL statement the service runs, named. Parameters are always bound, never formatted."""

from __future__ import annotations

# -- events and audit ---------------------------------------------------------------------------


LOCK_UNRELAYED_EVENTS = """
SELECT id, type, subject, data, created_at FROM hitl_events
WHERE relayed_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""

MARK_EVENTS_RELAYED = "UPDATE hitl_events SET relayed_at = now() WHERE id = ANY(%s)"

# -- runs ---------------------------------------------------------------------------------------


CLAIM_RUNS = """
WITH picked AS (
    SELECT id FROM hitl_runs
    WHERE status = 'queued' AND available_at <= now()
    ORDER BY available_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE hitl_runs r
    SET status = 'running', lease_owner = %(owner)s, attempts = r.attempts + 1,
        lease_expires_at = now() + %(lease)s * interval '1 second',
        started_at = coalesce(r.started_at, now())
    FROM picked WHERE r.id = picked.id
    RETURNING r.*
), threads AS (
    UPDATE hitl_threads t SET status = 'running', updated_at = now()
    FROM claimed WHERE t.thread_id = claimed.thread_id
    RETURNING t.thread_id, t.graph
)
SELECT claimed.*, threads.graph FROM claimed JOIN threads USING (thread_id)
ORDER BY claimed.id
"""

HEARTBEAT_RUNS = """
UPDATE hitl_runs SET lease_expires_at = now() + %s * interval '1 second'
WHERE lease_owner = %s AND status = 'running' AND id = ANY(%s)
RETURNING id
"""

# A run's result, part 1: finish the run (only if this worker still holds it) and, only then,
# record a request per new pending interrupt (with its event), close the requests the run
# applied or found stale, reopen answers the graph refused, and supersede (or, when the run
# failed, cancel) pending requests whose interrupt is gone. The updates touch disjoint rows:
# closing and reopening only 'responded' ones, the sweep only 'pending' ones.
RECORD_RUN = """
WITH finished AS (
    UPDATE hitl_runs
    SET status = %(run_status)s, error = %(error)s, finished_at = now(),
        lease_owner = NULL, lease_expires_at = NULL
    WHERE id = %(run_id)s AND lease_owner = %(owner)s AND status = 'running'
    RETURNING thread_id
), new_requests AS (
    INSERT INTO hitl_requests (thread_id, interrupt_id, graph, value, response_schema)
    SELECT f.thread_id, i.interrupt_id, %(graph)s, i.value, i.response_schema
    FROM finished f, jsonb_to_recordset(%(interrupts)s)
         AS i(interrupt_id text, value jsonb, response_schema jsonb)
    ON CONFLICT (thread_id, interrupt_id) DO NOTHING
    RETURNING *
), created AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.created', id::text,
           jsonb_build_object('request_id', id, 'thread_id', thread_id,
                              'interrupt_id', interrupt_id, 'graph', graph,
                              'value', value, 'response_schema', response_schema)
    FROM new_requests
), closed AS (
    UPDATE hitl_requests r SET state = c.state, closed_at = now(), updated_at = now()
    FROM finished f, jsonb_to_recordset(%(closing)s) AS c(id uuid, state text)
    WHERE r.id = c.id AND r.thread_id = f.thread_id AND r.state = 'responded'
), reopened AS (
    UPDATE hitl_requests r
    SET state = 'pending', response = NULL, responded_by = NULL, responded_at = NULL,
        run_id = NULL, updated_at = now()
    FROM finished f
    WHERE r.id = ANY(%(reopen)s::uuid[]) AND r.thread_id = f.thread_id AND r.state = 'responded'
), swept AS (
    UPDATE hitl_requests r
    SET state = %(sweep_state)s, closed_at = now(), updated_at = now()
    FROM finished f
    WHERE r.thread_id = f.thread_id AND r.state = 'pending'
      AND NOT (r.interrupt_id = ANY(%(live)s::text[]))
)
SELECT (SELECT count(*) FROM finished) AS finished, (SELECT count(*) FROM new_requests) AS created
"""

# A run's result, part 2 (same transaction, so it sees part 1): queue the next run if answers
# arrived while this one ran, set the thread's status and values, and write its event.
RECORD_THREAD_REST = """
WITH next_run AS (
    INSERT INTO hitl_runs (thread_id, kind)
    SELECT %(thread_id)s, 'resume'
    WHERE %(may_continue)s AND EXISTS (
        SELECT 1 FROM hitl_requests WHERE thread_id = %(thread_id)s AND state = 'responded'
    )
    ON CONFLICT (thread_id) WHERE status IN ('queued', 'running') DO NOTHING
    RETURNING id, pg_notify('hitl_runs', '')
), thread AS (
    UPDATE hitl_threads
    SET status = CASE WHEN EXISTS (SELECT 1 FROM next_run) THEN 'queued' ELSE %(status)s END,
        error = %(error)s, values = coalesce(%(values)s, values), updated_at = now()
    WHERE thread_id = %(thread_id)s
    RETURNING status
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'thread.' || t.status, %(thread_id)s,
           %(event)s || CASE WHEN t.status = 'interrupted' THEN jsonb_build_object(
               'interrupts', (
                   SELECT jsonb_agg(jsonb_build_object('interrupt_id', r.interrupt_id,
                                                       'request_id', r.id, 'value', r.value)
                                    ORDER BY r.created_at, r.id)
                   FROM hitl_requests r
                   WHERE r.thread_id = %(thread_id)s AND r.state = 'pending'))
           ELSE '{}'::jsonb END
    FROM thread t WHERE t.status IN ('interrupted', 'completed', 'failed')
)
SELECT status, pg_notify('hitl_threads', %(thread_id)s), pg_notify('hitl_events', '')
FROM thread
"""


RELEASE_RUNS = """
UPDATE hitl_runs
SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, attempts = attempts - 1
WHERE lease_owner = %s AND status = 'running' AND id = ANY(%s)
RETURNING pg_notify('hitl_runs', '')
"""

REAP_EXPIRED_RUNS = """
UPDATE hitl_runs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL
WHERE status = 'running' AND lease_expires_at < now()
RETURNING id
"""

# -- threads ------------------------------------------------------------------------------------

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

# -- requests -----------------------------------------------------------------------------------


GET_REQUEST = "SELECT * FROM hitl_requests WHERE id = %s"

PENDING_REQUESTS_OF_THREAD = """
SELECT * FROM hitl_requests WHERE thread_id = %s AND state = 'pending' ORDER BY created_at, id
"""

REQUESTS_OF_THREAD = "SELECT * FROM hitl_requests WHERE thread_id = %s ORDER BY created_at, id"

# The first valid answer wins (conditional on 'pending'); with it, in the same statement: its
# event, its audit entry, the resume run (unless the thread has one queued or running: that
# run, or the one queued when it ends, applies this answer) and the thread back to 'queued'.
# No row comes back when the request was no longer pending.
RESPOND_REQUEST = """
WITH answered AS (
    UPDATE hitl_requests
    SET state = 'responded', response = %(response)s, responded_by = %(actor)s,
        responded_at = now(), updated_at = now()
    WHERE id = %(id)s AND state = 'pending'
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.responded', id::text,
           jsonb_build_object('request_id', id, 'thread_id', thread_id,
                              'interrupt_id', interrupt_id, 'graph', graph,
                              'response', response, 'responded_by', responded_by)
    FROM answered
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'request.respond', id::text, jsonb_build_object('response', response)
    FROM answered
), run AS (
    INSERT INTO hitl_runs (thread_id, kind)
    SELECT thread_id, 'resume' FROM answered
    ON CONFLICT (thread_id) WHERE status IN ('queued', 'running') DO NOTHING
), thread AS (
    UPDATE hitl_threads t SET status = 'queued', updated_at = now()
    FROM answered a WHERE t.thread_id = a.thread_id AND t.status = 'interrupted'
)
SELECT answered.*, pg_notify('hitl_runs', ''), pg_notify('hitl_events', ''),
       pg_notify('hitl_threads', answered.thread_id)
FROM answered
"""

# The answers a run applies: every answered request of the thread, now tied to this run.
# The previous run_id tells a retried run which answers its own earlier attempt applied.
GATHER_RESPONSES = """
UPDATE hitl_requests r SET run_id = %(run_id)s
FROM (
    SELECT id, run_id AS previous_run_id FROM hitl_requests
    WHERE thread_id = %(thread_id)s AND state = 'responded'
    FOR UPDATE
) g
WHERE r.id = g.id
RETURNING r.*, g.previous_run_id
"""


LIST_REQUESTS = """
SELECT * FROM hitl_requests
WHERE (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(graph)s::text IS NULL OR graph = %(graph)s)
  AND (%(thread_id)s::text IS NULL OR thread_id = %(thread_id)s)
  AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(key)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""
