"""Every SQL statement the service runs, named. Parameters are always bound, never formatted."""

from __future__ import annotations

from hitl.db.native import NativeStatement

# -- events and audit ---------------------------------------------------------------------------

# What every request event says about its request, for the webhooks and notifications fed by
# them: which request, whom it is for, when it is due. Statements put it after ``||`` with the
# request row as ``r``.
REQUEST_ABOUT = """jsonb_build_object(
    'request_id', r.id, 'kind', r.kind, 'thread_id', r.thread_id, 'interrupt_id', r.interrupt_id,
    'graph', r.graph, 'workflow_id', r.workflow_id, 'assignees', r.assignees,
    'groups', r.assigned_groups, 'deadline_at', r.deadline_at)"""


# The oldest unrelayed events, marked relayed (and locked) by the transaction that publishes
# them: if publishing fails, it rolls back and they stay unrelayed.
TAKE_UNRELAYED_EVENTS = """
UPDATE hitl_events e SET relayed_at = now()
FROM (
    SELECT id FROM hitl_events WHERE relayed_at IS NULL ORDER BY id LIMIT %s
    FOR UPDATE SKIP LOCKED
) due
WHERE e.id = due.id
RETURNING e.id, e.type, e.subject, e.data::text AS data, e.created_at
"""

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
# seen in `open_requests` as recorded, and one recorded later waits for this statement and then
# finds no run running, so it queues one itself. No row comes back when the run was taken over.
RECORD_RUN = NativeStatement.of(
    """
WITH open_requests AS (
    SELECT id, state, run_id, interrupt_id FROM hitl_requests
    WHERE thread_id = %(thread_id)s AND state IN ('pending', 'responded')
    ORDER BY id
    FOR UPDATE
), finished AS (
    UPDATE hitl_runs
    SET status = %(run_status)s, error = %(error)s, finished_at = now(),
        lease_owner = NULL, lease_expires_at = NULL
    WHERE id = %(run_id)s AND lease_owner = %(owner)s AND status = 'running'
      AND (SELECT count(*) FROM open_requests) >= 0  -- evaluated first: the locks come first
    RETURNING thread_id
), new_requests AS (
    INSERT INTO hitl_requests (thread_id, interrupt_id, graph, value, response_schema, assignees,
                               assigned_groups, on_timeout, reminders, deadline_at,
                               window_started_at, timer_at)
    SELECT f.thread_id, i.interrupt_id, %(graph)s, i.value, i.response_schema, i.assignees,
           i.groups, i.on_timeout, i.reminders, d.deadline_at, now(),
           hitl_timer_at(now(), d.deadline_at, i.reminders, 0)
    FROM finished f,
         jsonb_to_recordset(%(interrupts)s)
             AS i(interrupt_id text, value jsonb, response_schema jsonb, assignees text[],
                  groups text[], timeout float8, on_timeout jsonb, reminders float8[]),
         LATERAL (SELECT now() + i.timeout * interval '1 second' AS deadline_at) d
    ON CONFLICT (thread_id, interrupt_id) DO NOTHING
    RETURNING *
), created AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.created', r.id::text,
           jsonb_build_object('value', r.value, 'response_schema', r.response_schema) || """
    + REQUEST_ABOUT
    + """
    FROM new_requests r
    RETURNING id
), closed AS (
    UPDATE hitl_requests r SET state = c.state, closed_at = now(), updated_at = now()
    FROM finished f, jsonb_to_recordset(%(closing)s) AS c(id uuid, state text)
    WHERE r.id = c.id AND r.thread_id = f.thread_id AND r.state = 'responded'
    RETURNING r.*
), reopened AS (
    UPDATE hitl_requests r
    SET state = 'pending', response = NULL, responded_by = NULL, responded_at = NULL,
        run_id = NULL, updated_at = now()
    FROM finished f
    WHERE r.id = ANY(%(reopen)s::uuid[]) AND r.thread_id = f.thread_id AND r.state = 'responded'
    RETURNING r.*
), still_pending AS (
    -- the thread's pending requests once this statement is done
    SELECT * FROM new_requests
    UNION ALL
    SELECT * FROM reopened
    UNION ALL
    SELECT r.* FROM open_requests o JOIN hitl_requests r ON r.id = o.id
    WHERE o.state = 'pending' AND o.interrupt_id = ANY(%(live)s::text[])
), swept AS (
    UPDATE hitl_requests r
    SET state = %(sweep_state)s, closed_at = now(), updated_at = now()
    FROM finished f
    WHERE r.thread_id = f.thread_id AND NOT (r.interrupt_id = ANY(%(live)s::text[]))
      AND (r.state = 'pending' OR (r.state = 'responded' AND NOT %(failed)s
                                   AND r.run_id IS DISTINCT FROM %(run_id)s))
    RETURNING r.*
), cancelled AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.cancelled', id::text,
           jsonb_build_object('request_id', id, 'kind', kind, 'thread_id', thread_id,
                              'interrupt_id', interrupt_id, 'graph', graph,
                              'run_id', %(run_id)s, 'reason', 'the thread failed')
    FROM (SELECT * FROM swept UNION ALL SELECT * FROM closed) r WHERE state = 'cancelled'
    RETURNING id
), next_run AS (
    INSERT INTO hitl_runs (thread_id, kind)
    SELECT f.thread_id, 'resume' FROM finished f
    WHERE %(may_continue)s AND EXISTS (
        SELECT 1 FROM open_requests o
        WHERE o.state = 'responded' AND o.run_id IS DISTINCT FROM %(run_id)s
          AND o.interrupt_id = ANY(%(live)s::text[])
    )
    ON CONFLICT (thread_id) WHERE status IN ('queued', 'running') DO NOTHING
    RETURNING id, pg_notify('hitl_runs', '')
), thread AS (
    UPDATE hitl_threads t
    SET status = CASE WHEN EXISTS (SELECT 1 FROM next_run) THEN 'queued' ELSE %(status)s END,
        error = %(error)s, values = coalesce(%(values)s, t.values), updated_at = now()
    FROM finished f WHERE t.thread_id = f.thread_id
    RETURNING t.*
), event AS (
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
    FROM thread t
    WHERE t.status IN ('interrupted', 'completed', 'failed')
      -- evaluated first: the requests' events come before the thread's
      AND (SELECT count(*) FROM created) + (SELECT count(*) FROM cancelled) >= 0
)
SELECT t.status, (SELECT count(*) FROM new_requests) AS created,
       CASE WHEN %(detail)s THEN to_jsonb(t) || jsonb_build_object('pending', coalesce(
           (SELECT jsonb_agg(to_jsonb(p) ORDER BY p.created_at, p.id) FROM still_pending p),
           '[]'::jsonb)) END AS detail,
       pg_notify('hitl_threads', %(thread_id)s), pg_notify('hitl_events', '')
FROM thread t
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


def queue_resume(answered: str) -> str:
    """CTEs ``run`` and ``thread``: the resume run of the thread of each row of the CTE
    ``answered`` (none for an external request, which has no thread; none either if the thread
    has a run queued or running: that run, or the one queued when it ends, applies the answer),
    and the thread back to 'queued' if it was interrupted."""
    return f"""run AS (
    INSERT INTO hitl_runs (thread_id, kind)
    SELECT thread_id, 'resume' FROM {answered} WHERE thread_id IS NOT NULL
    ON CONFLICT (thread_id) WHERE status IN ('queued', 'running') DO NOTHING
), thread AS (
    UPDATE hitl_threads t SET status = 'queued', updated_at = now()
    FROM {answered} a WHERE t.thread_id = a.thread_id AND t.status = 'interrupted'
)"""


# The first valid answer wins (conditional on 'pending' and, for people, not past its deadline:
# from then on the deadline's policy decides, and its own answer, which carries a
# deadline_action, passes); with it, in the same statement: its event (whose trigger queues
# the webhook deliveries), its audit entry, and the resume (`queue_resume`).
# An answerer checked against an assignment passes it (``assignees``, ``groups``): the update
# then also needs the row to still have that assignment, so a reassignment committed after the
# check (even while this update waits for the row's lock) refuses the answer.
# No row comes back when the request was no longer pending (or was reassigned).
RESPOND_REQUEST = (
    """
WITH answered AS (
    UPDATE hitl_requests
    SET state = 'responded', response = %(response)s, responded_by = %(actor)s,
        responded_at = now(), updated_at = now(), deadline_action = %(deadline_action)s
    WHERE id = %(id)s AND state = 'pending'
      AND (%(deadline_action)s::text IS NOT NULL OR deadline_at IS NULL OR deadline_at > now())
      AND (%(assignees)s::text[] IS NULL
           OR (assignees = %(assignees)s::text[] AND assigned_groups = %(groups)s::text[]))
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.responded', id::text,
           jsonb_build_object('request_id', id, 'thread_id', thread_id,
                              'interrupt_id', interrupt_id, 'graph', graph,
                              'response', response, 'responded_by', responded_by,
                              'responded_at', responded_at, 'kind', kind,
                              'workflow_id', workflow_id, 'checkpoint_id', checkpoint_id)
    FROM answered
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'request.respond', id::text, jsonb_build_object('response', response)
    FROM answered
), """
    + queue_resume("answered")
    + """
SELECT answered.*, pg_notify('hitl_runs', ''), pg_notify('hitl_events', ''),
       pg_notify('hitl_threads', answered.thread_id)
FROM answered
"""
)

# The answers a run applies: every answered request of the thread, now tied to this run.
# The previous run_id tells a retried run which answers its own earlier attempt applied.
# With them, who wrote the thread's latest checkpoint (the runner names the run and attempt in
# its metadata) and which run and attempt recorded the thread last: when the two are the same,
# the checkpoint is the one that run recorded (see hitl/runner.py).
GATHER_RESPONSES = """
WITH gathered AS (
    UPDATE hitl_requests r SET run_id = %(run_id)s
    FROM (
        SELECT id, run_id AS previous_run_id FROM hitl_requests
        WHERE thread_id = %(thread_id)s AND state = 'responded'
        FOR UPDATE
    ) g
    WHERE r.id = g.id
    RETURNING r.*, g.previous_run_id
)
SELECT gathered.*,
       (SELECT c.metadata ->> 'hitl_run' FROM checkpoints c
        WHERE c.thread_id = %(thread_id)s AND c.checkpoint_ns = ''
        ORDER BY c.checkpoint_id DESC LIMIT 1) AS checkpoint_written_by,
       (SELECT CASE WHEN p.status = 'done' THEN p.id || ':' || p.attempts END
        FROM hitl_runs p
        WHERE p.thread_id = %(thread_id)s AND p.status IN ('done', 'failed')
        ORDER BY p.id DESC LIMIT 1) AS recorded_by
FROM gathered
"""


# ``assigned_to``: requests assigned to that user by name or through one of their groups.
ASSIGNED_TO_FILTER = """(%(assigned_to)s::text IS NULL OR assignees @> ARRAY[%(assigned_to)s::text]
       OR assigned_groups && ARRAY(
           SELECT m.group_name FROM hitl_group_members m JOIN hitl_users u ON u.id = m.user_id
           WHERE u.username = %(assigned_to)s))"""

LIST_REQUESTS = f"""
SELECT * FROM hitl_requests
WHERE (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(graph)s::text IS NULL OR graph = %(graph)s)
  AND (%(thread_id)s::text IS NULL OR thread_id = %(thread_id)s)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND {ASSIGNED_TO_FILTER}
  AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(key)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""


# -- external requests --------------------------------------------------------------------------

# The enabled endpoint registered for a callback URL that the caller may name: one it owns
# (admins own those without an owner) or one shared with it; its own first, then the newest.
FIND_CALLBACK_ENDPOINT = """
SELECT id FROM hitl_webhook_endpoints
WHERE url = %(url)s AND enabled
  AND (owner = %(subject)s OR (owner IS NULL AND %(admin)s)
       OR shared_with && ARRAY[%(subject)s, '*'])
ORDER BY owner IS NOT DISTINCT FROM %(subject)s DESC, created_at DESC
LIMIT 1
"""

# A request from an agent outside the service, its event and audit entry: one statement.
CREATE_EXTERNAL_REQUEST = (
    """
WITH deadline AS (
    SELECT now() + %(timeout)s::float8 * interval '1 second' AS at
), created AS (
    INSERT INTO hitl_requests (kind, workflow_id, checkpoint_id, callback_endpoint_id,
                               callback_webhook, value, response_schema, title, description,
                               metadata, assignees, assigned_groups, on_timeout, reminders,
                               deadline_at, window_started_at, timer_at, created_by,
                               created_by_subject)
    SELECT 'external', %(workflow_id)s, %(checkpoint_id)s, %(endpoint_id)s, %(callback)s,
           %(context)s, %(response_schema)s, %(title)s, %(description)s, %(metadata)s,
           %(assignees)s, %(groups)s, %(on_timeout)s, %(reminders)s::float8[], d.at, now(),
           hitl_timer_at(now(), d.at, %(reminders)s::float8[], 0), %(actor)s,
           %(actor_subject)s
    FROM deadline d
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.created', r.id::text,
           jsonb_build_object('checkpoint_id', r.checkpoint_id, 'title', r.title,
                              'value', r.value, 'response_schema', r.response_schema,
                              'metadata', r.metadata, 'expires_at', r.deadline_at) || """
    + REQUEST_ABOUT
    + """
    FROM created r
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'request.create', id::text, jsonb_build_object('workflow_id', workflow_id)
    FROM created
)
SELECT created.*, pg_notify('hitl_events', '') FROM created
"""
)

# -- assignment and deadlines -------------------------------------------------------------------

# The names among these users and groups that do not exist.
UNKNOWN_ASSIGNEES = """
SELECT ARRAY(SELECT unnest(%s::text[]) EXCEPT SELECT username FROM hitl_users) AS users,
       ARRAY(SELECT unnest(%s::text[]) EXCEPT SELECT name FROM hitl_groups) AS groups
"""

# A pending request assigned to other users and groups, with its event and audit entry (before
# and after). No row comes back when it is no longer pending.
REASSIGN_REQUEST = (
    """
WITH before AS (
    SELECT id, assignees, assigned_groups FROM hitl_requests
    WHERE id = %(id)s AND state = 'pending'
    FOR UPDATE
), assigned AS (
    UPDATE hitl_requests r
    SET assignees = %(assignees)s::text[], assigned_groups = %(groups)s::text[],
        updated_at = now()
    FROM before b WHERE r.id = b.id
    RETURNING r.*, b.assignees AS before_assignees, b.assigned_groups AS before_groups
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.assigned', r.id::text,
           jsonb_build_object('by', %(actor)s::text, 'previous', jsonb_build_object(
               'assignees', r.before_assignees, 'groups', r.before_groups)) || """
    + REQUEST_ABOUT
    + """
    FROM assigned r
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'request.assign', id::text, jsonb_build_object(
               'before', jsonb_build_object('assignees', before_assignees,
                                            'groups', before_groups),
               'after', jsonb_build_object('assignees', assignees, 'groups', assigned_groups))
    FROM assigned
)
SELECT assigned.*, pg_notify('hitl_events', '') FROM assigned
"""
)

# Pending requests whose timer (a reminder or the deadline) is due, locked until the caller's
# transaction ends: the caller acts on them in that transaction (hitl/timers.py), so a timer
# fires once however many workers poll, and a crash before the commit leaves it due.
CLAIM_DUE_TIMERS = """
SELECT *, now() AS now FROM hitl_requests
WHERE state = 'pending' AND timer_at <= now()
ORDER BY timer_at
LIMIT %s
FOR UPDATE SKIP LOCKED
"""

# A reminder: every reminder of the window whose time has come counts as sent (those missed while
# no worker ran are folded into this one), one 'request.reminded' event, the next timer set.
REMIND_REQUEST = (
    """
WITH due AS (
    SELECT r.id, least(coalesce(cardinality(r.reminders), 0), greatest(r.reminded + 1, (
               SELECT count(*)::int FROM unnest(r.reminders) f
               WHERE r.window_started_at + (r.deadline_at - r.window_started_at) * f <= now()
           ))) AS n
    FROM hitl_requests r WHERE r.id = %(id)s AND r.state = 'pending'
), reminded AS (
    UPDATE hitl_requests r
    SET reminded = due.n,
        timer_at = hitl_timer_at(r.window_started_at, r.deadline_at, r.reminders, due.n)
    FROM due WHERE r.id = due.id
    RETURNING r.*
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.reminded', r.id::text,
           jsonb_build_object('reminder', r.reminders[r.reminded],
                              'escalations', r.escalations) || """
    + REQUEST_ABOUT
    + """
    FROM reminded r
)
SELECT id, pg_notify('hitl_events', '') FROM reminded
"""
)

# The deadline escalates: other assignees, a new deadline window (its reminders anew), its event
# and audit entry (before and after).
ESCALATE_REQUEST = (
    """
WITH before AS (
    SELECT id, assignees, assigned_groups, deadline_at FROM hitl_requests
    WHERE id = %(id)s AND state = 'pending'
), escalated AS (
    UPDATE hitl_requests r
    SET assignees = %(assignees)s::text[], assigned_groups = %(groups)s::text[],
        escalations = r.escalations + 1, reminded = 0, window_started_at = now(),
        deadline_at = now() + %(extend)s::float8 * interval '1 second',
        timer_at = hitl_timer_at(now(), now() + %(extend)s::float8 * interval '1 second',
                                 r.reminders, 0),
        updated_at = now()
    FROM before b WHERE r.id = b.id
    RETURNING r.*, b.assignees AS before_assignees, b.assigned_groups AS before_groups,
              b.deadline_at AS before_deadline_at
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.escalated', r.id::text,
           jsonb_build_object('escalations', r.escalations, 'previous', jsonb_build_object(
               'assignees', r.before_assignees, 'groups', r.before_groups,
               'deadline_at', r.before_deadline_at)) || """
    + REQUEST_ABOUT
    + """
    FROM escalated r
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'request.escalate', id::text, jsonb_build_object(
               'escalations', escalations,
               'before', jsonb_build_object('assignees', before_assignees,
                                            'groups', before_groups,
                                            'deadline_at', before_deadline_at),
               'after', jsonb_build_object('assignees', assignees, 'groups', assigned_groups,
                                           'deadline_at', deadline_at))
    FROM escalated
)
SELECT id, pg_notify('hitl_events', '') FROM escalated
"""
)

# The deadline expires a request, with its event and audit entry. An external request is
# 'expired' at once. An interrupt gets the expiry marker as its answer, to be applied like a
# person's by the thread's next run (queued here, as an answer queues it): the runner resumes
# the interrupt with the marker or fails the thread (deadline_action says which) and closes
# the request as 'expired'.
EXPIRE_REQUEST = (
    """
WITH expired AS (
    UPDATE hitl_requests r
    SET state = CASE WHEN r.thread_id IS NULL THEN 'expired' ELSE 'responded' END,
        response = CASE WHEN r.thread_id IS NOT NULL THEN jsonb_build_object(
            'expired', true, 'request_id', r.id, 'deadline_at', r.deadline_at,
            'reason', %(reason)s::text) END,
        responded_by = CASE WHEN r.thread_id IS NOT NULL THEN %(actor)s END,
        responded_at = CASE WHEN r.thread_id IS NOT NULL THEN now() END,
        deadline_action = CASE WHEN r.thread_id IS NOT NULL THEN 'expire_' || %(thread)s END,
        closed_at = CASE WHEN r.thread_id IS NULL THEN now() END,
        updated_at = now()
    WHERE r.id = %(id)s AND r.state = 'pending'
    RETURNING r.*
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.expired', r.id::text,
           jsonb_build_object('checkpoint_id', r.checkpoint_id, 'reason', %(reason)s::text,
                              'thread_action', CASE WHEN r.thread_id IS NOT NULL
                                                    THEN %(thread)s::text END) || """
    + REQUEST_ABOUT
    + """
    FROM expired r
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'request.expire', id::text,
           jsonb_build_object('reason', %(reason)s::text, 'thread', CASE
               WHEN thread_id IS NOT NULL THEN %(thread)s::text END)
    FROM expired
), """
    + queue_resume("expired")
    + """
SELECT id, pg_notify('hitl_runs', ''), pg_notify('hitl_events', ''),
       pg_notify('hitl_threads', thread_id)
FROM expired
"""
)

# -- webhook endpoints --------------------------------------------------------------------------

# Endpoint statements take ``owner``: the subject whose endpoints alone the caller may see and
# change, NULL for every endpoint (admins).
CREATE_ENDPOINT = """
INSERT INTO hitl_webhook_endpoints (url, description, events, secret, owner, owner_name,
                                    shared_with)
VALUES (%(url)s, %(description)s, %(events)s, %(secret)s, %(owner)s, %(owner_name)s,
        %(shared_with)s)
RETURNING *
"""

GET_ENDPOINT = """
SELECT * FROM hitl_webhook_endpoints
WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
"""

LIST_ENDPOINTS = """
SELECT * FROM hitl_webhook_endpoints
WHERE (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(key)s::uuid))
  AND (%(owner)s::text IS NULL OR owner = %(owner)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""

# The subjects among these that name no user or API key.
UNKNOWN_SUBJECTS = """
SELECT s FROM unnest(%s::text[]) s
WHERE NOT EXISTS (SELECT 1 FROM hitl_users u WHERE s = 'user:' || u.id)
  AND NOT EXISTS (SELECT 1 FROM hitl_api_keys k WHERE s = 'key:' || k.id)
"""

# NULL parameters leave a field as it is; enabling again forgets the failure streak.
UPDATE_ENDPOINT = """
UPDATE hitl_webhook_endpoints
SET events = coalesce(%(events)s::text[], events),
    description = coalesce(%(description)s::text, description),
    enabled = coalesce(%(enabled)s::boolean, enabled),
    shared_with = coalesce(%(shared_with)s::text[], shared_with),
    disabled_reason = CASE WHEN %(enabled)s::boolean IS NULL THEN disabled_reason
                           WHEN %(enabled)s::boolean THEN NULL
                           ELSE 'disabled through the API' END,
    failing_since = CASE WHEN %(enabled)s::boolean THEN NULL ELSE failing_since END,
    updated_at = now()
WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
RETURNING *
"""

DELETE_ENDPOINT = """
DELETE FROM hitl_webhook_endpoints
WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
RETURNING id
"""

ROTATE_SECRET = """
UPDATE hitl_webhook_endpoints
SET previous_secret = secret, secret = %(secret)s,
    previous_secret_expires_at = now() + %(grace)s * interval '1 second', updated_at = now()
WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
RETURNING *
"""

# The service disables an endpoint (410 Gone, or failing too long) and says so in an event.
DISABLE_ENDPOINT = """
WITH endpoint AS (
    UPDATE hitl_webhook_endpoints
    SET enabled = false, disabled_reason = %(reason)s, updated_at = now()
    WHERE id = %(id)s AND enabled
    RETURNING id, url
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'webhook.endpoint_disabled', id::text,
           jsonb_build_object('endpoint_id', id, 'url', url, 'reason', %(reason)s)
    FROM endpoint
)
SELECT id, pg_notify('hitl_events', '') FROM endpoint
"""

# -- webhook deliveries -------------------------------------------------------------------------

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

GET_DELIVERY = """
SELECT d.*, coalesce(a.attempts_log, '[]'::jsonb) AS attempts_log
FROM hitl_webhook_deliveries d
LEFT JOIN LATERAL (
    SELECT jsonb_agg(to_jsonb(a) - 'delivery_id' ORDER BY a.id) AS attempts_log
    FROM hitl_webhook_attempts a WHERE a.delivery_id = d.id
) a ON true
WHERE d.id = %(id)s
  AND (%(owner)s::text IS NULL
       OR d.endpoint_id IN (SELECT id FROM hitl_webhook_endpoints WHERE owner = %(owner)s))
"""

LIST_DELIVERIES_OF_ENDPOINT = """
SELECT d.*, coalesce(a.attempts_log, '[]'::jsonb) AS attempts_log
FROM hitl_webhook_deliveries d
LEFT JOIN LATERAL (
    SELECT jsonb_agg(to_jsonb(a) - 'delivery_id' ORDER BY a.id) AS attempts_log
    FROM hitl_webhook_attempts a WHERE a.delivery_id = d.id
) a ON true
WHERE d.endpoint_id = %(endpoint_id)s
  AND (%(at)s::timestamptz IS NULL OR (d.created_at, d.id) < (%(at)s, %(key)s::uuid))
ORDER BY d.created_at DESC, d.id DESC
LIMIT %(limit)s
"""

LIST_DELIVERIES_OF_REQUEST = """
SELECT d.*, coalesce(a.attempts_log, '[]'::jsonb) AS attempts_log
FROM hitl_webhook_deliveries d
LEFT JOIN LATERAL (
    SELECT jsonb_agg(to_jsonb(a) - 'delivery_id' ORDER BY a.id) AS attempts_log
    FROM hitl_webhook_attempts a WHERE a.delivery_id = d.id
) a ON true
WHERE d.request_id = %(request_id)s
  AND (%(owner)s::text IS NULL
       OR d.endpoint_id IN (SELECT id FROM hitl_webhook_endpoints WHERE owner = %(owner)s))
ORDER BY d.created_at, d.id
"""

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

# -- idempotency keys ---------------------------------------------------------------------------

# Take the key: a new one, or one whose holder died mid-way (lock lapsed) or that expired.
CLAIM_IDEMPOTENCY_KEY = """
INSERT INTO hitl_idempotency_keys AS k (scope, key, fingerprint, locked_until, expires_at)
VALUES (%(scope)s, %(key)s, %(fingerprint)s, now() + %(lock)s * interval '1 second',
        now() + %(keep)s * interval '1 second')
ON CONFLICT (scope, key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, locked_until = EXCLUDED.locked_until,
    expires_at = EXCLUDED.expires_at, created_at = now(), status_code = NULL, body = NULL
WHERE k.expires_at <= now()
   OR (k.status_code IS NULL AND k.locked_until <= now() AND k.fingerprint = EXCLUDED.fingerprint)
RETURNING true AS claimed
"""

GET_IDEMPOTENCY_KEY = "SELECT * FROM hitl_idempotency_keys WHERE scope = %s AND key = %s"

COMPLETE_IDEMPOTENCY_KEY = """
UPDATE hitl_idempotency_keys SET status_code = %(status)s, body = %(body)s, headers = %(headers)s
WHERE scope = %(scope)s AND key = %(key)s
"""

RELEASE_IDEMPOTENCY_KEY = """
DELETE FROM hitl_idempotency_keys WHERE scope = %s AND key = %s AND status_code IS NULL
"""

DELETE_EXPIRED_IDEMPOTENCY_KEYS = """
DELETE FROM hitl_idempotency_keys WHERE ctid IN (
    SELECT ctid FROM hitl_idempotency_keys WHERE expires_at <= now() LIMIT %s
)
"""

# -- workers (heartbeats; hitl/workers.py) ------------------------------------------------------

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
