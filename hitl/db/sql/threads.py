"""Threads (``hitl_threads``): creating, reading and listing them.

A thread's status is also written by the run statements (hitl/db/sql/runs.py) and the answer
statements (hitl/db/sql/requests.py); these are the thread's own.
"""

from __future__ import annotations

# A new thread, its start run, its event and audit entry: one statement, so one round trip.
# No row comes back when the thread id is taken.
CREATE_THREAD = """
WITH thread AS (
    INSERT INTO hitl_threads (thread_id, graph, metadata, created_by, created_by_subject)
    VALUES (%(thread_id)s, %(graph)s, %(metadata)s, %(actor)s, %(actor_subject)s)
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

# A request's value cut to what its headline reads (`hitl.headlines`): a diff or a tool's
# output never travels for a list of fifty threads.
_HEADLINE_OF = """
CASE jsonb_typeof({v})
  WHEN 'object' THEN jsonb_strip_nulls(jsonb_build_object(
      'title', {v}->'title', 'summary', {v}->'summary', 'question', {v}->'question',
      'kind', {v}->'kind', 'type', {v}->'type', 'name', {v}->'name',
      'action_requests', {v}->'action_requests', 'message', {v}->'message',
      'requests', CASE WHEN jsonb_typeof({v}->'requests') = 'array' THEN
          jsonb_build_array(jsonb_build_object('message', {v}->'requests'->0->'message')) END))
  WHEN 'array' THEN jsonb_build_array({v}->0)
  WHEN 'string' THEN to_jsonb(left({v} #>> '{{}}', 200))
  ELSE {v}
END"""

# For the Threads page, per listed thread: its values' ``title`` and ``outcome``, its oldest
# pending request and how many are pending, and its latest request (a title for threads whose
# values have none). Through the (thread_id, created_at) index: two rows read per thread.
THREAD_GISTS = f"""
SELECT t.thread_id,
       t.values->'title' AS title, t.values->'outcome' AS outcome,
       p.value AS pending_value, p.title AS pending_title, coalesce(p.n, 0) AS pending_count,
       l.value AS latest_value, l.title AS latest_title
FROM hitl_threads t
LEFT JOIN LATERAL (
    SELECT {_HEADLINE_OF.format(v="r.value")} AS value, r.title, count(*) OVER () AS n
    FROM hitl_requests r WHERE r.thread_id = t.thread_id AND r.state = 'pending'
    ORDER BY r.created_at, r.id LIMIT 1
) p ON true
LEFT JOIN LATERAL (
    SELECT {_HEADLINE_OF.format(v="r.value")} AS value, r.title
    FROM hitl_requests r WHERE r.thread_id = t.thread_id
    ORDER BY r.created_at DESC, r.id DESC LIMIT 1
) l ON true
WHERE t.thread_id = ANY(%(ids)s::text[])
"""


# -- the Agent Server door (hitl/agent_server) -----------------------------------------------------

# An empty thread (POST /lg/threads, or a run's ``if_not_exists: create``), 'idle' with no run:
# its graph is NULL until its first run names one, unless the caller named it already
# (metadata.graph_id). No row comes back when the thread id is taken.
CREATE_EMPTY_THREAD = """
WITH thread AS (
    INSERT INTO hitl_threads (thread_id, graph, status, metadata, created_by, created_by_subject)
    VALUES (%(thread_id)s, %(graph)s, 'idle', %(metadata)s, %(actor)s, %(actor_subject)s)
    ON CONFLICT (thread_id) DO NOTHING
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'thread.created', thread_id,
           jsonb_build_object('thread_id', thread_id, 'graph', graph)
    FROM thread
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'thread.create', thread_id, jsonb_build_object('graph', graph) FROM thread
)
SELECT thread.*, pg_notify('hitl_events', '') FROM thread
"""

# Merge keys into a thread's metadata (a key given again is replaced); the thread after.
MERGE_THREAD_METADATA = """
UPDATE hitl_threads SET metadata = metadata || %(metadata)s, updated_at = now()
WHERE thread_id = %(thread_id)s
RETURNING *
"""

# Delete a thread that has no run queued, running or waiting its turn (its runs and requests go
# with it, ON DELETE CASCADE), with an audit entry. No row comes back when it does not exist or
# is busy; `THREAD_BUSY` tells which. Its checkpoints are LangGraph's, deleted by the
# checkpointer afterwards.
DELETE_IDLE_THREAD = """
WITH doomed AS (
    DELETE FROM hitl_threads t
    WHERE t.thread_id = %(thread_id)s
      AND NOT EXISTS (
          SELECT 1 FROM hitl_runs r
          WHERE r.thread_id = t.thread_id AND r.status IN ('pending', 'queued', 'running'))
    RETURNING t.thread_id, t.graph
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'thread.delete', thread_id, jsonb_build_object('graph', graph) FROM doomed
)
SELECT thread_id FROM doomed
"""

# Whether a thread exists, and whether a run of it is queued, running or waiting its turn.
THREAD_BUSY = """
SELECT EXISTS (
    SELECT 1 FROM hitl_runs r
    WHERE r.thread_id = t.thread_id AND r.status IN ('pending', 'queued', 'running')) AS busy
FROM hitl_threads t WHERE t.thread_id = %s
"""

# Thread search: every filter optional (NULL switches it off). ``statuses``: the stored
# statuses one Agent Server status stands for (hitl/agent_server/mapping.py); ``graph``: the
# graph_id the caller's metadata filter named (stored in its own column, not in metadata);
# ``metadata`` and ``values``: containment (``@>``), the former backed by the GIN index;
# ``ids``: only these threads. With the status of an inbox ('interrupted'), the newest first
# come from the (status, created_at) index, a page at a time (tests/integration/
# test_agent_server_search.py checks the plan).
_SEARCH_FILTERS = """
WHERE (%(statuses)s::text[] IS NULL OR t.status = ANY(%(statuses)s::text[]))
  AND (%(graph)s::text IS NULL OR t.graph = %(graph)s)
  AND (%(metadata)s::jsonb IS NULL OR t.metadata @> %(metadata)s::jsonb)
  AND (%(values)s::jsonb IS NULL OR t.values @> %(values)s::jsonb)
  AND (%(ids)s::text[] IS NULL OR t.thread_id = ANY(%(ids)s::text[]))
"""

# The orders a search may ask for, each ending on thread_id so that pages do not overlap.
SEARCH_ORDERS: dict[tuple[str, str], str] = {
    (column, direction): f"t.{column} {direction.upper()}"
    + ("" if column == "thread_id" else f", t.thread_id {direction.upper()}")
    for column in ("thread_id", "status", "created_at", "updated_at")
    for direction in ("asc", "desc")
}


def _search(order: str) -> str:
    return f"""
WITH page AS (
    SELECT t.* FROM hitl_threads t
    {_SEARCH_FILTERS}
    ORDER BY {order}
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT t.*, coalesce(p.requests, '[]'::jsonb) AS pending
FROM page t
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'interrupt_id', r.interrupt_id, 'value', r.value,
               'response_schema', r.response_schema)
           ORDER BY r.created_at, r.id) AS requests
    FROM hitl_requests r WHERE r.thread_id = t.thread_id AND r.state = 'pending'
) p ON true
ORDER BY {order}
"""


# A page of threads in one of `SEARCH_ORDERS`, each with its pending requests (oldest first):
# one statement, so one round trip, however many threads the page holds.
SEARCH_THREADS: dict[tuple[str, str], str] = {
    key: _search(order) for key, order in SEARCH_ORDERS.items()
}

# How many threads the search's filters match.
COUNT_THREADS = f"SELECT count(*) AS n FROM hitl_threads t {_SEARCH_FILTERS}"

# Someone watches the thread (migration 0027) until ``seconds`` from now: its new runs are
# streamed meanwhile.
WATCH_THREAD = """
INSERT INTO hitl_thread_watchers (thread_id, until)
SELECT thread_id, now() + %(seconds)s * interval '1 second' FROM hitl_threads
WHERE thread_id = %(thread_id)s
ON CONFLICT (thread_id) DO UPDATE SET until = greatest(hitl_thread_watchers.until, EXCLUDED.until)
"""
