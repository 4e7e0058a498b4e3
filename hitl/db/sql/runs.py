"""Runs (``hitl_runs``): claiming, leases, and recording a run's result.

A run is claimed with ``FOR UPDATE SKIP LOCKED`` and a lease its worker renews; a run whose
lease lapsed is queued again. `RECORD_RUN` writes everything a run's end causes in one
statement (requests, events, the next run, the thread): the lock order it keeps is explained
above it.
"""

from __future__ import annotations

from hitl.db.native import NativeStatement
from hitl.db.sql.events import REQUEST_ABOUT

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

# A run's result, in one statement: finish the run (only if this worker still holds it) and,
# only then, record a request per new pending interrupt (with its event, its assignment,
# deadline and first timer, see hitl/deadlines.py), close the requests the run applied or found
# stale (as resumed, superseded, expired or cancelled), reopen answers the graph refused,
# supersede (or, when the run failed, cancel) open requests whose interrupt is gone (pending
# ones, and answers that came while the run ran), queue the next run if answers to interrupts
# still pending came meanwhile, set the thread's status and values, and write its event; every
# cancelled request gets a 'request.cancelled' event. The updates touch disjoint rows: closing
# and reopening only answers this run gathered, the sweep only the others.
#
# The thread's open requests are locked first, before the run row (an answer locks its request
# first too, so the two cannot deadlock): an answer being recorded meanwhile is waited for and
# seen in `locked_open_requests` as recorded, and one recorded later waits for this statement
# and then finds no run running, so it queues one itself. No row comes back when the run was
# taken over.
#
# The parts, in the order above: locked_open_requests, finished_run, new_requests (and their
# created_events), closed_answers, reopened_answers, still_pending, swept_orphans (the sweep;
# with closed_answers, the cancelled_events), next_run (else promoted_run), run_webhook,
# updated_thread and its thread_event. With `detail`, the row returned carries the thread as
# recorded, its pending requests and the run it ended (for waiters of this process, see
# hitl/thread_watch.py).
RECORD_RUN = NativeStatement.of(
    """
WITH locked_open_requests AS (
    -- the thread's pending and answered requests, locked before anything else (see above);
    -- read through the index of open requests (hitl_requests_open), whatever the history
    SELECT id, state, run_id, interrupt_id FROM hitl_requests
    WHERE thread_id = %(thread_id)s AND state IN ('pending', 'responded')
    ORDER BY id
    FOR UPDATE
), finished_run AS (
    -- this run, done or failed, only if this worker still holds it: the parts below that
    -- write read it, so they write nothing when the run was taken over
    UPDATE hitl_runs
    SET status = %(run_status)s, error = %(error)s, finished_at = now(),
        lease_owner = NULL, lease_expires_at = NULL
    WHERE id = %(run_id)s AND lease_owner = %(owner)s AND status = 'running'
      -- Always true; here so that the locks come first. This uncorrelated subquery is an
      -- InitPlan, evaluated once before the run row is read, and it reads locked_open_requests
      -- to the end, locking every row; without it Postgres would lock the run row first (a
      -- SELECT in WITH runs only when read, here later), the order that can deadlock with an
      -- answer. A count is never negative, so the condition changes no row.
      AND (SELECT count(*) FROM locked_open_requests) >= 0
    RETURNING thread_id, public_id, status, error
), new_requests AS (
    -- a request per new pending interrupt (one already recorded for it is left as it is)
    -- asked for by whoever started the thread (four-eyes, hitl/four_eyes.py)
    INSERT INTO hitl_requests (thread_id, interrupt_id, graph, value, response_schema, assignees,
                               assigned_groups, on_timeout, reminders, deadline_at,
                               window_started_at, timer_at, requested_by, requested_by_subject,
                               on_behalf_of, forbid_self_approval, priority, approval, metadata)
    SELECT f.thread_id, i.interrupt_id, %(graph)s, i.value, i.response_schema, i.assignees,
           i.groups, i.on_timeout, i.reminders, d.deadline_at, now(),
           hitl_timer_at(now(), d.deadline_at, i.reminders, 0), t.created_by,
           t.created_by_subject, i.on_behalf_of, coalesce(i.forbid_self_approval, false),
           coalesce(i.priority, 1), i.approval, COALESCE(i.metadata, '{}'::jsonb)
    FROM finished_run f
         JOIN hitl_threads t ON t.thread_id = f.thread_id,
         jsonb_to_recordset(%(interrupts)s)
             AS i(interrupt_id text, value jsonb, response_schema jsonb, assignees text[],
                  groups text[], timeout float8, on_timeout jsonb, reminders float8[],
                  on_behalf_of text, forbid_self_approval boolean, priority smallint,
                  approval jsonb, metadata jsonb),
         LATERAL (SELECT now() + i.timeout * interval '1 second' AS deadline_at) d
    ON CONFLICT (thread_id, interrupt_id) DO NOTHING
    RETURNING *
), created_events AS (
    -- 'request.created' for each new request
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.created', r.id::text,
           jsonb_build_object('value', r.value, 'response_schema', r.response_schema) || """
    + REQUEST_ABOUT
    + """
    FROM new_requests r
    RETURNING id
), closed_answers AS (
    -- the answers this run gathered and applied (or found stale), closed in the state the
    -- runner chose
    UPDATE hitl_requests r SET state = c.state, closed_at = now(), updated_at = now()
    FROM finished_run f, jsonb_to_recordset(%(closing)s) AS c(id uuid, state text)
    WHERE r.id = c.id AND r.thread_id = f.thread_id AND r.state = 'responded'
    RETURNING r.*
), reopened_answers AS (
    -- the answers this run gathered that the graph refused: pending again
    UPDATE hitl_requests r
    SET state = 'pending', response = NULL, responded_by = NULL, responded_at = NULL,
        responded_for = NULL, run_id = NULL, updated_at = now()
    FROM finished_run f
    WHERE r.id = ANY(%(reopen)s::uuid[]) AND r.thread_id = f.thread_id AND r.state = 'responded'
    RETURNING r.*
), still_pending AS (
    -- the thread's pending requests once this statement is done
    SELECT * FROM new_requests
    UNION ALL
    SELECT * FROM reopened_answers
    UNION ALL
    SELECT r.* FROM locked_open_requests o JOIN hitl_requests r ON r.id = o.id
    WHERE o.state = 'pending' AND o.interrupt_id = ANY(%(live)s::text[])
), swept_orphans AS (
    -- open requests whose interrupt is gone: pending ones, and answers this run did not
    -- gather (unless it failed); superseded, or cancelled when the run failed. Among the
    -- locked open requests (all of the thread's: only runs of this thread add requests to
    -- it), so the sweep reads what is open now, not the thread's history.
    UPDATE hitl_requests r
    SET state = %(sweep_state)s, closed_at = now(), updated_at = now()
    FROM finished_run f, locked_open_requests o
    WHERE r.id = o.id AND r.thread_id = f.thread_id
      AND NOT (r.interrupt_id = ANY(%(live)s::text[]))
      AND (r.state = 'pending' OR (r.state = 'responded' AND NOT %(failed)s
                                   AND r.run_id IS DISTINCT FROM %(run_id)s))
    RETURNING r.*
), cancelled_events AS (
    -- 'request.cancelled' for each request closed or swept as cancelled
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.cancelled', id::text,
           jsonb_build_object('request_id', id, 'kind', kind, 'thread_id', thread_id,
                              'interrupt_id', interrupt_id, 'graph', graph,
                              'run_id', %(run_id)s, 'reason', 'the thread failed')
    FROM (SELECT * FROM swept_orphans UNION ALL SELECT * FROM closed_answers) r
    WHERE state = 'cancelled'
    RETURNING id
), next_run AS (
    -- a resume run when answers to live interrupts came while this run ran (unless the
    -- thread may not go on)
    INSERT INTO hitl_runs (thread_id, kind)
    SELECT f.thread_id, 'resume' FROM finished_run f
    WHERE %(may_continue)s AND EXISTS (
        SELECT 1 FROM locked_open_requests o
        WHERE o.state = 'responded' AND o.run_id IS DISTINCT FROM %(run_id)s
          AND o.interrupt_id = ANY(%(live)s::text[])
    )
    ON CONFLICT (thread_id) WHERE status IN ('queued', 'running') DO NOTHING
    RETURNING id, pg_notify('hitl_runs', '')
), promoted_run AS (
    -- else the oldest run waiting behind this one (multitask_strategy 'enqueue'), queued; the
    -- one-active-run index allows it, as this statement has ended this run
    UPDATE hitl_runs SET status = 'queued'
    WHERE id = (SELECT min(p.id) FROM hitl_runs p, finished_run f
                WHERE p.thread_id = f.thread_id AND p.status = 'pending')
      AND NOT EXISTS (SELECT 1 FROM next_run)
    RETURNING id, pg_notify('hitl_runs', '')
), run_webhook AS (
    -- the run's own webhook (the Agent Server door's ``webhook``: an endpoint of the caller's),
    -- through the signed, retried outbox, whether the run ended or stopped at an interrupt
    INSERT INTO hitl_webhook_deliveries (endpoint_id, event_type, kind, body)
    SELECT e.id, %(webhook_type)s, 'callback', %(webhook_body)s::text
    FROM finished_run f
    JOIN hitl_webhook_endpoints e ON e.id = %(webhook_endpoint)s::uuid AND e.enabled
    RETURNING pg_notify('hitl_webhooks', '')
), updated_thread AS (
    -- the thread's status (queued again if a next run was queued), error and values
    UPDATE hitl_threads t
    SET status = CASE WHEN EXISTS (SELECT 1 FROM next_run) OR EXISTS (SELECT 1 FROM promoted_run)
                      THEN 'queued' ELSE %(status)s END,
        error = %(error)s, values = coalesce(%(values)s, t.values), updated_at = now()
    FROM finished_run f WHERE t.thread_id = f.thread_id
    RETURNING t.*
), thread_event AS (
    -- 'thread.interrupted' (with its pending requests), 'thread.completed' or 'thread.failed'
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'thread.' || t.status, %(thread_id)s,
           %(event)s || CASE WHEN t.status = 'completed'
                             THEN jsonb_build_object('values', %(values)s::jsonb)
                             WHEN t.status = 'interrupted' THEN jsonb_build_object(
               'interrupts', (
                   SELECT jsonb_agg(jsonb_build_object('interrupt_id', p.interrupt_id,
                                                       'request_id', p.id, 'value', p.value)
                                    ORDER BY p.created_at, p.id)
                   FROM still_pending p))
           ELSE '{}'::jsonb END
    FROM updated_thread t
    WHERE t.status IN ('interrupted', 'completed', 'failed')
      -- Always true; here so that the requests' events come before the thread's: the
      -- subqueries run (inserting those events, taking their ids from the sequence) before
      -- this insert takes its own, so the relay publishes them in that order.
      AND (SELECT count(*) FROM created_events) + (SELECT count(*) FROM cancelled_events) >= 0
)
SELECT t.status, (SELECT count(*) FROM new_requests) AS created,
       CASE WHEN %(detail)s THEN to_jsonb(t) || jsonb_build_object('pending', coalesce(
           (SELECT jsonb_agg(to_jsonb(p) ORDER BY p.created_at, p.id) FROM still_pending p),
           '[]'::jsonb), 'run', (SELECT to_jsonb(f) FROM finished_run f)) END AS detail,
       pg_notify('hitl_threads', %(thread_id)s), pg_notify('hitl_events', '')
FROM updated_thread t
"""
)


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


# -- a thread's next run, asked for at the Agent Server door (hitl/agent_server) ----------------
#
# Queueing one (`hitl.runs.queue`) is one statement in the common case: the run is queued with
# its audit entry, or, with a run already active, refused or left 'pending' behind it (a second
# statement). Both take their locks in the order every statement that ends, claims or answers
# runs keeps (the run, then the thread), so none can deadlock with them. A thread's graph only
# goes from none to one: the run is queued only on a thread of its graph or of none yet (which
# it then gives its own); two first runs of different graphs on an empty thread meet at the
# one-active-run index, and the second's pending insert, a statement later, sees the first's
# graph and is refused. A pending run is promoted when the active one ends (RECORD_RUN,
# `promoted_run`) or, after its insert, by `PROMOTE_PENDING`, whose update the one-active-run
# index arbitrates: it waits for a run being recorded at that moment and then either succeeds
# (that run ended and queued nothing) or conflicts (a run is active, and its own record, later,
# sees this one). So no pending run is left behind, whatever the timing.

THREAD_GRAPH = "SELECT graph FROM hitl_threads WHERE thread_id = %s"

ACTIVE_RUN = """
SELECT * FROM hitl_runs WHERE thread_id = %s AND status IN ('queued', 'running')
ORDER BY id LIMIT 1
"""

# The thread's first run from id %(from)s on (in the order they were asked for): the run a
# thread event stream follows next (`hitl.agent_server.thread_streams`).
THREAD_RUN_FROM = """
SELECT * FROM hitl_runs WHERE thread_id = %(thread_id)s AND id >= %(from)s ORDER BY id LIMIT 1
"""

# The thread's latest run (none for a thread that never ran).
LATEST_THREAD_RUN = """
SELECT * FROM hitl_runs WHERE thread_id = %s ORDER BY id DESC LIMIT 1
"""

# The audit entry of a run just queued (``run``), who asked for it (with its status).
_RUN_AUDIT = """
audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, %(action)s, run.thread_id,
           jsonb_build_object('run_id', run.public_id, 'kind', run.kind, 'status', run.status)
    FROM run
)"""

# The run, queued, its thread (given its graph on its first run) and its audit entry; no row
# when the thread has an active run, is of another graph or does not exist (`THREAD_GRAPH`
# tells which).
QUEUE_RUN = f"""
WITH run AS (
    -- the first turn of a thread created empty is marked 'fresh': it has no checkpoint to read
    -- (hitl.runner.is_fresh)
    INSERT INTO hitl_runs (thread_id, kind, input, options)
    SELECT %(thread_id)s, %(kind)s, %(input)s,
           CASE WHEN %(kind)s = 'input' AND t.status = 'idle'
                THEN %(options)s || '{{"fresh": true}}'::jsonb ELSE %(options)s END
    FROM hitl_threads t
    WHERE t.thread_id = %(thread_id)s AND (t.graph IS NULL OR t.graph = %(graph)s)
    ON CONFLICT (thread_id) WHERE status IN ('queued', 'running') DO NOTHING
    RETURNING *
), thread AS (
    UPDATE hitl_threads t
    SET status = 'queued', error = NULL, graph = coalesce(t.graph, %(graph)s), updated_at = now()
    FROM run WHERE t.thread_id = run.thread_id
), {_RUN_AUDIT}
SELECT run.*, pg_notify('hitl_runs', ''), pg_notify('hitl_threads', run.thread_id) FROM run
"""

# The run, waiting behind the thread's active one, and its audit entry; no row when the thread
# is of another graph or gone.
QUEUE_PENDING_RUN = f"""
WITH run AS (
    INSERT INTO hitl_runs (thread_id, kind, input, options, status)
    SELECT %(thread_id)s, %(kind)s, %(input)s, %(options)s, 'pending'
    FROM hitl_threads t WHERE t.thread_id = %(thread_id)s AND t.graph = %(graph)s
    RETURNING *
), {_RUN_AUDIT}
SELECT * FROM run
"""

# The thread's oldest pending run, queued (see above); a unique violation when a run is active.
PROMOTE_PENDING = """
WITH run AS (
    UPDATE hitl_runs SET status = 'queued'
    WHERE id = (SELECT min(id) FROM hitl_runs
                WHERE thread_id = %(thread_id)s AND status = 'pending')
    RETURNING *
), thread AS (
    UPDATE hitl_threads t SET status = 'queued', updated_at = now()
    FROM run WHERE t.thread_id = run.thread_id
)
SELECT run.id, pg_notify('hitl_runs', ''), pg_notify('hitl_threads', run.thread_id) FROM run
"""

RUN_BY_PUBLIC_ID = """
SELECT r.*, t.graph FROM hitl_runs r JOIN hitl_threads t USING (thread_id)
WHERE r.thread_id = %s AND r.public_id = %s
"""

# A thread's runs, newest first (the thread's index), optionally of one status.
THREAD_RUNS = """
SELECT r.*, t.graph FROM hitl_runs r JOIN hitl_threads t USING (thread_id)
WHERE r.thread_id = %(thread_id)s AND (%(status)s::text[] IS NULL OR r.status = ANY(%(status)s))
ORDER BY r.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# A run not yet started, cancelled; a running one marked for its worker to cancel (a NOTIFY on
# 'hitl_run_cancels' tells it at once; its heartbeat reads the mark too). A resume run is not
# cancelled: it applies answers, which are final. No row when the run ended (or is a resume).
CANCEL_RUN = """
WITH waiting AS (
    UPDATE hitl_runs SET status = 'cancelled', finished_at = now(), cancel = %(action)s
    WHERE thread_id = %(thread_id)s AND public_id = %(run_id)s AND status IN ('pending', 'queued')
      AND kind <> 'resume'
    RETURNING *
), running AS (
    UPDATE hitl_runs SET cancel = %(action)s
    WHERE thread_id = %(thread_id)s AND public_id = %(run_id)s AND status = 'running'
      AND kind <> 'resume'
    RETURNING *
), thread AS (
    -- a cancelled queued run leaves the thread as its last run left it
    UPDATE hitl_threads t
    SET status = CASE
            WHEN EXISTS (SELECT 1 FROM hitl_requests q
                         WHERE q.thread_id = t.thread_id AND q.state = 'pending') THEN 'interrupted'
            ELSE coalesce((SELECT CASE p.status WHEN 'failed' THEN 'failed' ELSE 'completed' END
                           FROM hitl_runs p WHERE p.thread_id = t.thread_id
                             AND p.status IN ('done', 'failed')
                           ORDER BY p.id DESC LIMIT 1), 'idle')
        END,
        updated_at = now()
    FROM waiting w WHERE t.thread_id = w.thread_id AND t.status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM hitl_runs a WHERE a.thread_id = t.thread_id
                        AND a.status IN ('queued', 'running') AND a.id <> w.id)
)
SELECT *, pg_notify('hitl_run_cancels', id::text), pg_notify('hitl_threads', thread_id)
FROM (SELECT * FROM waiting UNION ALL SELECT * FROM running) r
"""

# Of the given running runs, those asked to be cancelled, and how.
CANCELS_ASKED = """
SELECT id, cancel FROM hitl_runs WHERE id = ANY(%s) AND status = 'running' AND cancel IS NOT NULL
"""

# The checkpoints a run wrote (a cancel with 'rollback'), with their pending writes; the blobs
# they point to are left to the thread's deletion.
DELETE_RUN_CHECKPOINTS = """
WITH gone AS (
    DELETE FROM checkpoints
    WHERE thread_id = %(thread_id)s AND metadata->>'hitl_run' LIKE %(run)s
    RETURNING thread_id, checkpoint_ns, checkpoint_id
)
DELETE FROM checkpoint_writes w USING gone g
WHERE w.thread_id = g.thread_id AND w.checkpoint_ns = g.checkpoint_ns
  AND w.checkpoint_id = g.checkpoint_id
"""

# A run rolled back is forgotten, as the Agent Server forgets it.
DELETE_RUN = """
DELETE FROM hitl_runs WHERE id = %s AND status = 'cancelled'
RETURNING pg_notify('hitl_threads', thread_id)
"""

# The thread's active run (the one answers just queued, or the one running, whose record queues
# the next), with the caller's options when it is still queued and has none of its own (a
# watcher's ``progress``, migration 0027, is not the run's own: the caller's replace it).
RESUMING_RUN = """
WITH active AS (
    SELECT id FROM hitl_runs
    WHERE thread_id = %(thread_id)s AND status IN ('queued', 'running')
), given AS (
    UPDATE hitl_runs r SET options = %(options)s
    FROM active a WHERE r.id = a.id AND r.status = 'queued'
                    AND r.options - 'progress' = '{}'::jsonb
    RETURNING r.*
)
SELECT r.*, t.graph
FROM (SELECT * FROM given
      UNION ALL
      SELECT r.* FROM hitl_runs r JOIN active a USING (id)
      WHERE NOT EXISTS (SELECT 1 FROM given)) r
JOIN hitl_threads t USING (thread_id)
"""

# The thread's active run, with its graph (the one that applies answers just recorded).
RESUMING_RUN_OF = """
SELECT r.*, t.graph FROM hitl_runs r JOIN hitl_threads t USING (thread_id)
WHERE r.thread_id = %s AND r.status IN ('queued', 'running')
"""

DELETE_ENDED_RUN = """
DELETE FROM hitl_runs WHERE id = %s AND status IN ('done', 'failed', 'cancelled') RETURNING id
"""
