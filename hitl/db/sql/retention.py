"""Retention's deletes and dry-run counts (hitl/retention.py): every table that ages out.

Threads (``hitl_threads``, with LangGraph's ``checkpoints``, ``checkpoint_blobs`` and
``checkpoint_writes``), settled ``hitl_requests``, finished ``hitl_runs``, relayed
``hitl_events``, settled ``hitl_webhook_deliveries`` and ``hitl_notifications``, ``hitl_audit``
and ended ``hitl_signin_failures`` windows; and the trimming of checkpoint history. Kept in one
module rather than with each table's family because every statement here follows one pattern
(pick a batch of aged rows, delete it, count what went) and the rule of what may go is one rule.
"""

from __future__ import annotations

# Each DELETE picks its batch in a CTE (LIMIT, FOR UPDATE SKIP LOCKED) and returns per-table
# counts; each COUNT matches the same rows without the limit, for ``hitl prune --dry-run``.
# Ages are bound as seconds: ``%(age)s * interval '1 second'`` (threads': ``%(thread_age)s``).

_AGED_THREADS = """
SELECT thread_id FROM hitl_threads t
WHERE t.status IN ('completed', 'failed')
  AND t.updated_at < now() - %(thread_age)s * interval '1 second'
  AND NOT EXISTS (
      SELECT 1 FROM hitl_runs r
      WHERE r.thread_id = t.thread_id AND r.status IN ('queued', 'running')
  )
"""

# Runs and requests are deleted by the cascade; they are counted from the statement's snapshot.
PRUNE_THREADS = f"""
WITH doomed AS (
    {_AGED_THREADS}
    ORDER BY t.updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), writes AS (
    DELETE FROM checkpoint_writes WHERE thread_id IN (SELECT thread_id FROM doomed) RETURNING 1
), blobs AS (
    DELETE FROM checkpoint_blobs WHERE thread_id IN (SELECT thread_id FROM doomed) RETURNING 1
), checkpoints AS (
    DELETE FROM checkpoints WHERE thread_id IN (SELECT thread_id FROM doomed) RETURNING 1
), threads AS (
    DELETE FROM hitl_threads WHERE thread_id IN (SELECT thread_id FROM doomed) RETURNING 1
)
SELECT (SELECT count(*) FROM threads) AS hitl_threads,
       (SELECT count(*) FROM hitl_runs WHERE thread_id IN (SELECT thread_id FROM doomed))
           AS hitl_runs,
       (SELECT count(*) FROM hitl_requests WHERE thread_id IN (SELECT thread_id FROM doomed))
           AS hitl_requests,
       (SELECT count(*) FROM checkpoints) AS checkpoints,
       (SELECT count(*) FROM blobs) AS checkpoint_blobs,
       (SELECT count(*) FROM writes) AS checkpoint_writes
"""

COUNT_THREADS = f"""
WITH doomed AS ({_AGED_THREADS})
SELECT (SELECT count(*) FROM doomed) AS hitl_threads,
       (SELECT count(*) FROM hitl_runs WHERE thread_id IN (SELECT thread_id FROM doomed))
           AS hitl_runs,
       (SELECT count(*) FROM hitl_requests WHERE thread_id IN (SELECT thread_id FROM doomed))
           AS hitl_requests,
       (SELECT count(*) FROM checkpoints WHERE thread_id IN (SELECT thread_id FROM doomed))
           AS checkpoints,
       (SELECT count(*) FROM checkpoint_blobs WHERE thread_id IN (SELECT thread_id FROM doomed))
           AS checkpoint_blobs,
       (SELECT count(*) FROM checkpoint_writes WHERE thread_id IN (SELECT thread_id FROM doomed))
           AS checkpoint_writes
"""

# Settled requests: an interrupt's once closed (``responded`` still waits for its run), an
# external one once answered. Never ``pending``.
_AGED_REQUESTS = """
SELECT id, thread_id FROM hitl_requests
WHERE state <> 'pending'
  AND updated_at < now() - %(age)s * interval '1 second'
  AND (state IN ('resumed', 'superseded', 'expired', 'cancelled')
       OR (kind = 'external' AND state = 'responded'))
"""

PRUNE_REQUESTS = f"""
WITH doomed AS ({_AGED_REQUESTS} ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
gone AS (DELETE FROM hitl_requests WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) AS hitl_requests FROM gone
"""

# Those of threads that go too are counted with the threads (a real pass deletes threads first).
COUNT_REQUESTS = f"""
SELECT count(*) AS hitl_requests FROM ({_AGED_REQUESTS}) doomed
WHERE NOT (%(thread_age)s::float8 > 0 AND doomed.thread_id IN ({_AGED_THREADS}))
"""

# Finished runs of live threads (those of completed and failed threads go with their thread, so
# the two never count the same run). Requests can only come to reference the active run
# (GATHER_RESPONSES), so a finished run that no open request references stays unreferenced.
_AGED_RUNS = """
SELECT r.id FROM hitl_runs r JOIN hitl_threads t ON t.thread_id = r.thread_id
WHERE r.status IN ('done', 'failed')
  AND r.finished_at < now() - %(age)s * interval '1 second'
  AND t.status IN ('queued', 'running', 'interrupted')
  AND NOT EXISTS (
      SELECT 1 FROM hitl_requests q
      WHERE q.run_id = r.id AND q.state IN ('pending', 'responded')
  )
"""

PRUNE_RUNS = f"""
WITH doomed AS (
    {_AGED_RUNS} ORDER BY r.finished_at LIMIT %(limit)s FOR UPDATE OF r SKIP LOCKED
), gone AS (DELETE FROM hitl_runs WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) AS hitl_runs FROM gone
"""

COUNT_RUNS = f"SELECT count(*) AS hitl_runs FROM ({_AGED_RUNS}) doomed"

_AGED_EVENTS = """
SELECT id FROM hitl_events
WHERE relayed_at IS NOT NULL AND created_at < now() - %(age)s * interval '1 second'
"""

PRUNE_EVENTS = f"""
WITH doomed AS ({_AGED_EVENTS} ORDER BY created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
gone AS (DELETE FROM hitl_events WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) AS hitl_events FROM gone
"""

COUNT_EVENTS = f"SELECT count(*) AS hitl_events FROM ({_AGED_EVENTS}) doomed"

_AGED_DELIVERIES = """
SELECT id FROM hitl_webhook_deliveries
WHERE state IN ('succeeded', 'failed') AND updated_at < now() - %(age)s * interval '1 second'
"""

PRUNE_DELIVERIES = f"""
WITH doomed AS ({_AGED_DELIVERIES} ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
gone AS (DELETE FROM hitl_webhook_deliveries WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) AS hitl_webhook_deliveries,
       (SELECT count(*) FROM hitl_webhook_attempts WHERE delivery_id IN (SELECT id FROM doomed))
           AS hitl_webhook_attempts
FROM gone
"""

COUNT_DELIVERIES = f"""
WITH doomed AS ({_AGED_DELIVERIES})
SELECT (SELECT count(*) FROM doomed) AS hitl_webhook_deliveries,
       (SELECT count(*) FROM hitl_webhook_attempts WHERE delivery_id IN (SELECT id FROM doomed))
           AS hitl_webhook_attempts
"""

_AGED_NOTIFICATIONS = """
SELECT id FROM hitl_notifications
WHERE status IN ('sent', 'failed') AND updated_at < now() - %(age)s * interval '1 second'
"""

PRUNE_NOTIFICATIONS = f"""
WITH doomed AS (
    {_AGED_NOTIFICATIONS} ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), gone AS (DELETE FROM hitl_notifications WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) AS hitl_notifications FROM gone
"""

COUNT_NOTIFICATIONS = f"SELECT count(*) AS hitl_notifications FROM ({_AGED_NOTIFICATIONS}) doomed"

_AGED_AUDIT = "SELECT id FROM hitl_audit WHERE at < now() - %(age)s * interval '1 second'"

PRUNE_AUDIT = f"""
WITH doomed AS ({_AGED_AUDIT} ORDER BY at LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
gone AS (DELETE FROM hitl_audit WHERE id IN (SELECT id FROM doomed) RETURNING 1)
SELECT count(*) AS hitl_audit FROM gone
"""

COUNT_AUDIT = f"SELECT count(*) AS hitl_audit FROM ({_AGED_AUDIT}) doomed"

_AGED_SIGNIN_FAILURES = """
SELECT key FROM hitl_signin_failures WHERE window_start < now() - %(age)s * interval '1 second'
"""

PRUNE_SIGNIN_FAILURES = f"""
WITH doomed AS ({_AGED_SIGNIN_FAILURES} ORDER BY window_start LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED),
gone AS (DELETE FROM hitl_signin_failures WHERE key IN (SELECT key FROM doomed) RETURNING 1)
SELECT count(*) AS hitl_signin_failures FROM gone
"""

COUNT_SIGNIN_FAILURES = (
    f"SELECT count(*) AS hitl_signin_failures FROM ({_AGED_SIGNIN_FAILURES}) doomed"
)

# Checkpoint history: per (thread, namespace) of a thread at rest, the checkpoints beyond the
# newest %(keep)s, with their writes, and the blobs no kept checkpoint's channel_versions uses.
# (checkpoint ids are time-ordered, as LangGraph's own listing assumes.)
_TRIMMABLE_THREADS = """
SELECT t.thread_id FROM hitl_threads t
WHERE t.status IN ('interrupted', 'completed', 'failed')
  AND NOT EXISTS (
      SELECT 1 FROM hitl_runs r
      WHERE r.thread_id = t.thread_id AND r.status IN ('queued', 'running')
  )
  AND EXISTS (
      SELECT 1 FROM checkpoints c WHERE c.thread_id = t.thread_id
      GROUP BY c.checkpoint_ns HAVING count(*) > %(keep)s
  )
  -- LangGraph's DeltaChannel rebuilds values from ancestor checkpoints: their history stays.
  AND NOT EXISTS (
      SELECT 1 FROM checkpoints c
      WHERE c.thread_id = t.thread_id AND c.metadata ? 'counters_since_delta_snapshot'
  )
"""

TRIM_CHECKPOINTS = f"""
WITH chosen AS (
    {_TRIMMABLE_THREADS} ORDER BY t.thread_id LIMIT %(limit)s FOR UPDATE OF t SKIP LOCKED
), ranked AS (
    SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.checkpoint,
           row_number() OVER (PARTITION BY c.thread_id, c.checkpoint_ns
                              ORDER BY c.checkpoint_id DESC) AS n
    FROM checkpoints c WHERE c.thread_id IN (SELECT thread_id FROM chosen)
), kept_versions AS (
    SELECT DISTINCT r.thread_id, r.checkpoint_ns, v.key AS channel, v.value AS version
    FROM ranked r, jsonb_each_text(r.checkpoint -> 'channel_versions') v
    WHERE r.n <= %(keep)s
), dropped AS (
    SELECT thread_id, checkpoint_ns, checkpoint_id FROM ranked WHERE n > %(keep)s
), writes AS (
    DELETE FROM checkpoint_writes w USING dropped d
    WHERE w.thread_id = d.thread_id AND w.checkpoint_ns = d.checkpoint_ns
      AND w.checkpoint_id = d.checkpoint_id
    RETURNING 1
), blobs AS (
    DELETE FROM checkpoint_blobs b
    WHERE b.thread_id IN (SELECT thread_id FROM chosen)
      AND NOT EXISTS (
          SELECT 1 FROM kept_versions k
          WHERE k.thread_id = b.thread_id AND k.checkpoint_ns = b.checkpoint_ns
            AND k.channel = b.channel AND k.version = b.version
      )
    RETURNING 1
), gone AS (
    DELETE FROM checkpoints c USING dropped d
    WHERE c.thread_id = d.thread_id AND c.checkpoint_ns = d.checkpoint_ns
      AND c.checkpoint_id = d.checkpoint_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM chosen) AS threads,
       (SELECT count(*) FROM gone) AS checkpoints,
       (SELECT count(*) FROM blobs) AS checkpoint_blobs,
       (SELECT count(*) FROM writes) AS checkpoint_writes
"""

COUNT_TRIMMABLE_CHECKPOINTS = f"""
WITH chosen AS ({_TRIMMABLE_THREADS}), ranked AS (
    SELECT row_number() OVER (PARTITION BY c.thread_id, c.checkpoint_ns
                              ORDER BY c.checkpoint_id DESC) AS n
    FROM checkpoints c WHERE c.thread_id IN (SELECT thread_id FROM chosen)
)
SELECT (SELECT count(*) FROM chosen) AS threads,
       (SELECT count(*) FROM ranked WHERE n > %(keep)s) AS checkpoints
"""
