"""Worker heartbeats (``hitl_workers``), and the runs each process holds (hitl/workers.py)."""

from __future__ import annotations

# A process says it is alive (its first beat registers it) and, in the same statement, forgets
# the rows of processes silent for ``forget`` seconds.
BEAT_WORKER = """
WITH beat AS (
    INSERT INTO hitl_workers (id, kind, host, pid, version, work)
    VALUES (%(id)s, %(kind)s, %(host)s, %(pid)s, %(version)s, %(work)s)
    ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now(), stopped_at = NULL
    RETURNING id
), forgotten AS (
    DELETE FROM hitl_workers
    WHERE last_heartbeat_at < now() - %(forget)s * interval '1 second' AND id <> %(id)s
    RETURNING id
)
SELECT (SELECT count(*) FROM beat) AS beat, (SELECT count(*) FROM forgotten) AS forgotten
"""

STOP_WORKER = """
UPDATE hitl_workers SET stopped_at = now(), last_heartbeat_at = now() WHERE id = %s
"""

# Processes seen in the last ``window`` seconds, with the runs they hold; and lease owners of
# running runs that have no row (a process of a version before heartbeats), seen by their last
# lease renewal (expiry minus the lease length).
RECENT_WORKERS = """
WITH held AS (
    SELECT lease_owner, count(*) AS runs,
           max(lease_expires_at) - %(lease)s * interval '1 second' AS renewed
    FROM hitl_runs WHERE status = 'running' AND lease_owner IS NOT NULL
    GROUP BY lease_owner
)
SELECT w.id AS name, w.kind, w.host, w.pid, w.version, w.work, w.started_at,
       w.last_heartbeat_at AS last_heartbeat, w.stopped_at, coalesce(h.runs, 0) AS runs,
       CASE WHEN w.stopped_at IS NOT NULL THEN 'stopped'
            WHEN w.last_heartbeat_at < now() - %(stale)s * interval '1 second' THEN 'stale'
            ELSE 'alive' END AS state
FROM hitl_workers w LEFT JOIN held h ON h.lease_owner = w.id
WHERE w.last_heartbeat_at >= now() - %(window)s * interval '1 second'
UNION ALL
SELECT h.lease_owner, NULL, NULL, NULL, NULL, '{}', NULL, h.renewed, NULL, h.runs,
       CASE WHEN h.renewed < now() - %(stale)s * interval '1 second' THEN 'stale'
            ELSE 'alive' END
FROM held h
WHERE h.renewed >= now() - %(window)s * interval '1 second'
  AND NOT EXISTS (SELECT 1 FROM hitl_workers w WHERE w.id = h.lease_owner)
ORDER BY name
"""
