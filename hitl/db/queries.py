"""Every SQL statement the service runs, named. Parameters are always bound, never formatted."""

from __future__ import annotations

# -- events and audit ---------------------------------------------------------------------------

INSERT_EVENT = """
INSERT INTO hitl_events (type, subject, data) VALUES (%s, %s, %s)
RETURNING pg_notify('hitl_events', '')
"""

INSERT_AUDIT = "INSERT INTO hitl_audit (actor, action, subject, data) VALUES (%s, %s, %s, %s)"

LOCK_UNRELAYED_EVENTS = """
SELECT id, type, subject, data, created_at FROM hitl_events
WHERE relayed_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""

MARK_EVENTS_RELAYED = "UPDATE hitl_events SET relayed_at = now() WHERE id = ANY(%s)"

# -- runs ---------------------------------------------------------------------------------------

ENQUEUE_RUN = """
INSERT INTO hitl_runs (thread_id, kind, input) VALUES (%s, %s, %s)
ON CONFLICT (thread_id) WHERE status IN ('queued', 'running') DO NOTHING
RETURNING id, pg_notify('hitl_runs', '')
"""

# Queue a resume if answers are waiting for one (they arrived while the last run ran).
ENQUEUE_RESUME_IF_ANSWERED = """
INSERT INTO hitl_runs (thread_id, kind)
SELECT %(thread_id)s, 'resume'
WHERE EXISTS (
    SELECT 1 FROM hitl_requests WHERE thread_id = %(thread_id)s AND state = 'responded'
)
ON CONFLICT (thread_id) WHERE status IN ('queued', 'running') DO NOTHING
RETURNING id, pg_notify('hitl_runs', '')
"""

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

FINISH_RUN = """
UPDATE hitl_runs
SET status = %s, error = %s, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
WHERE id = %s AND lease_owner = %s AND status = 'running'
RETURNING id
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

INSERT_THREAD = """
INSERT INTO hitl_threads (thread_id, graph, metadata) VALUES (%s, %s, %s)
ON CONFLICT (thread_id) DO NOTHING
RETURNING *
"""

GET_THREAD = "SELECT * FROM hitl_threads WHERE thread_id = %s"

# Where a run left the thread; waiters hear of it on the threads channel.
SET_THREAD_REST = """
UPDATE hitl_threads
SET status = %(status)s, error = %(error)s, values = coalesce(%(values)s, values),
    updated_at = now()
WHERE thread_id = %(thread_id)s
RETURNING *, pg_notify('hitl_threads', thread_id)
"""

QUEUE_THREAD = """
UPDATE hitl_threads SET status = 'queued', updated_at = now()
WHERE thread_id = %s AND status = 'interrupted'
RETURNING pg_notify('hitl_threads', thread_id)
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

INSERT_REQUEST = """
INSERT INTO hitl_requests (thread_id, interrupt_id, graph, value, response_schema)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (thread_id, interrupt_id) DO NOTHING
RETURNING *
"""

GET_REQUEST = "SELECT * FROM hitl_requests WHERE id = %s"

PENDING_REQUESTS_OF_THREAD = """
SELECT * FROM hitl_requests WHERE thread_id = %s AND state = 'pending' ORDER BY created_at, id
"""

REQUESTS_OF_THREAD = "SELECT * FROM hitl_requests WHERE thread_id = %s ORDER BY created_at, id"

RESPOND_REQUEST = """
UPDATE hitl_requests
SET state = 'responded', response = %s, responded_by = %s, responded_at = now(), updated_at = now()
WHERE id = %s AND state = 'pending'
RETURNING *
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

HAS_RESPONDED = (
    "SELECT EXISTS (SELECT 1 FROM hitl_requests WHERE thread_id = %s AND state = 'responded')"
)

CLOSE_REQUESTS = """
UPDATE hitl_requests SET state = %s, closed_at = now(), updated_at = now()
WHERE id = ANY(%s) AND state IN ('pending', 'responded')
"""

# An answer the graph refused after all (its own validation): the question is open again.
REOPEN_REQUESTS = """
UPDATE hitl_requests
SET state = 'pending', response = NULL, responded_by = NULL, responded_at = NULL,
    run_id = NULL, updated_at = now()
WHERE id = ANY(%s) AND state = 'responded'
"""

# Pending requests whose interrupt the checkpoint no longer has.
SUPERSEDE_STALE_PENDING = """
UPDATE hitl_requests SET state = 'superseded', closed_at = now(), updated_at = now()
WHERE thread_id = %s AND state = 'pending' AND NOT (interrupt_id = ANY(%s))
"""

CANCEL_PENDING = """
UPDATE hitl_requests SET state = 'cancelled', closed_at = now(), updated_at = now()
WHERE thread_id = %s AND state = 'pending'
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
