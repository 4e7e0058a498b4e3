"""Requests (``hitl_requests``): answering, gathering answers for a run, listing, external
requests and reassignment.

The first valid answer wins: `RESPOND_REQUEST` is conditional on the request being pending,
and writes its event, audit entry and the thread's resume run in the same statement. The
deadline's statements are in hitl/db/sql/timers.py.
"""

from __future__ import annotations

from hitl.db.sql.events import REQUEST_ABOUT
from hitl.models import REQUEST_STATES

GET_REQUEST = "SELECT * FROM hitl_requests WHERE id = %s"

PENDING_REQUESTS_OF_THREAD = """
SELECT * FROM hitl_requests WHERE thread_id = %s AND state = 'pending' ORDER BY created_at, id
"""

# The requests of a thread for these interrupt ids (an answer names them): through the unique
# index, as many rows as ids named, however many the thread had.
REQUESTS_OF_INTERRUPTS = """
SELECT * FROM hitl_requests WHERE thread_id = %s AND interrupt_id = ANY(%s::text[])
"""

# A page of a thread's requests, newest first (keyset on created_at, id; index
# hitl_requests_thread): the thread's history a page at a time, however long it is.
REQUESTS_OF_THREAD = """
SELECT * FROM hitl_requests
WHERE thread_id = %(thread_id)s
  AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(key)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""


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
# check (even while this update waits for the row's lock) refuses the answer; likewise a claim
# (hitl/claims.py) by someone other than ``claimer``, unless it expired.
# No row comes back when the request was no longer pending (or was reassigned).
RESPOND_REQUEST = (
    """
WITH answered AS (
    UPDATE hitl_requests
    SET state = 'responded', response = %(response)s, responded_by = %(actor)s,
        responded_at = now(), updated_at = now(), deadline_action = %(deadline_action)s,
        responded_for = %(responded_for)s
    WHERE id = %(id)s AND state = 'pending'
      AND (%(deadline_action)s::text IS NOT NULL OR deadline_at IS NULL OR deadline_at > now())
      AND (%(assignees)s::text[] IS NULL
           OR (assignees = %(assignees)s::text[] AND assigned_groups = %(groups)s::text[]))
      AND (%(claimer)s::text IS NULL OR claimed_by_subject IS NULL
           OR claimed_by_subject = %(claimer)s OR claim_expires_at <= now())
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.responded', id::text,
           jsonb_build_object('request_id', id, 'thread_id', thread_id,
                              'interrupt_id', interrupt_id, 'graph', graph,
                              'response', response, 'responded_by', responded_by,
                              'responded_for', responded_for,
                              'responded_at', responded_at, 'kind', kind,
                              'workflow_id', workflow_id, 'checkpoint_id', checkpoint_id)
    FROM answered
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'request.respond', id::text,
           jsonb_build_object('response', response)
           || CASE WHEN responded_for IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('for', responded_for) END
           || coalesce(%(via)s::jsonb, '{}'::jsonb)
    FROM answered
), """
    + queue_resume("answered")
    + """
SELECT answered.*, pg_notify('hitl_runs', ''), pg_notify('hitl_events', ''),
       pg_notify('hitl_threads', answered.thread_id),
       pg_notify('hitl_requests', answered.id::text)
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

# The inbox's views of one person's work (docs/approvals.md): ``claimed_by``, pending requests
# that user holds a live claim on (hitl/claims.py; index hitl_requests_claimed); ``assignee``,
# those assigned to the user by name; ``group_of``, those assigned to one of the user's groups;
# ``due_before``, pending ones due before then.
VIEW_FILTERS = """(%(claimed_by)s::text IS NULL
       OR (claimed_by = %(claimed_by)s AND claim_expires_at > now() AND state = 'pending'))
  AND (%(assignee)s::text IS NULL OR assignees @> ARRAY[%(assignee)s::text])
  AND (%(group_of)s::text IS NULL OR assigned_groups && ARRAY(
           SELECT m.group_name FROM hitl_group_members m JOIN hitl_users u ON u.id = m.user_id
           WHERE u.username = %(group_of)s))
  AND (%(due_before)s::timestamptz IS NULL
       OR (state = 'pending' AND deadline_at < %(due_before)s::timestamptz))"""

LISTING_FILTERS = f"""(%(state)s::text IS NULL OR state = %(state)s)
  AND (%(graph)s::text IS NULL OR graph = %(graph)s)
  AND (%(thread_id)s::text IS NULL OR thread_id = %(thread_id)s)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND {ASSIGNED_TO_FILTER}
  AND {VIEW_FILTERS}"""

# A page of requests in one of three orders, each a keyset on its sort key (the cursor holds
# the last item's): newest first; by priority (highest first, then newest: index
# hitl_requests_pending_priority for pending ones); by deadline (soonest first; requests with
# no deadline, from before deadlines existed, are left out; index
# hitl_requests_pending_deadline).
LIST_REQUESTS = f"""
SELECT * FROM hitl_requests
WHERE {LISTING_FILTERS}
  AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(key)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""

LIST_REQUESTS_BY_PRIORITY = f"""
SELECT * FROM hitl_requests
WHERE {LISTING_FILTERS}
  AND (%(at)s::timestamptz IS NULL
       OR (priority, created_at, id) < (%(rank)s::smallint, %(at)s, %(key)s::uuid))
ORDER BY priority DESC, created_at DESC, id DESC
LIMIT %(limit)s
"""

LIST_REQUESTS_BY_DEADLINE = f"""
SELECT * FROM hitl_requests
WHERE {LISTING_FILTERS}
  AND deadline_at IS NOT NULL
  AND (%(at)s::timestamptz IS NULL OR (deadline_at, id) > (%(at)s, %(key)s::uuid))
ORDER BY deadline_at, id
LIMIT %(limit)s
"""

# Text search over what a person sees of a request (its value, an external request's title and
# description) and its thread id (``assigned_to`` as in the API's listing). Not
# index-backed: it scans the requests of the chosen state (an index range), newest first, and
# stops at one page, so it is quick for the inbox's usual case of a few thousand pending.
SEARCH_REQUESTS = f"""
SELECT * FROM hitl_requests
WHERE (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(graph)s::text IS NULL OR graph = %(graph)s)
  AND (value::text ILIKE %(pattern)s OR title ILIKE %(pattern)s
       OR description ILIKE %(pattern)s OR thread_id ILIKE %(pattern)s)
  AND {ASSIGNED_TO_FILTER}
  AND {VIEW_FILTERS}
  AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(key)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""

# The web UI's per-state counts, each stopping at ``cap`` + 1 (hitl/ui/search.py).
# One bounded index range per state (a scalar subquery each, so that each is planned for its own
# state; a join over a list of states makes the planner scan the table instead).
COUNT_REQUESTS_BY_STATE = "\nUNION ALL\n".join(
    f"SELECT %(s{i})s AS state, (SELECT count(*) FROM (SELECT 1 FROM hitl_requests"
    f" WHERE state = %(s{i})s LIMIT %(cap)s + 1) capped) AS n"
    for i in range(len(REQUEST_STATES))
)


# -- external requests -----------------------------------------------------------------------------

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
                               created_by_subject, requested_by, requested_by_subject,
                               on_behalf_of, forbid_self_approval, priority, approval)
    SELECT 'external', %(workflow_id)s, %(checkpoint_id)s, %(endpoint_id)s, %(callback)s,
           %(context)s, %(response_schema)s, %(title)s, %(description)s, %(metadata)s,
           %(assignees)s, %(groups)s, %(on_timeout)s, %(reminders)s::float8[], d.at, now(),
           hitl_timer_at(now(), d.at, %(reminders)s::float8[], 0), %(actor)s,
           %(actor_subject)s, %(actor)s, %(actor_subject)s, %(on_behalf_of)s,
           %(forbid_self_approval)s, %(priority)s, %(approval)s
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

# The creator (or an admin) withdraws a pending external request: 'cancelled', with its
# 'request.cancelled' event (whose trigger calls back the request's endpoint, if it has one:
# migration 0014) and audit entry, in one statement. No row comes back when it was no longer
# pending.
WITHDRAW_REQUEST = (
    """
WITH withdrawn AS (
    UPDATE hitl_requests
    SET state = 'cancelled', closed_at = now(), updated_at = now()
    WHERE id = %(id)s AND state = 'pending' AND kind = 'external'
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.cancelled', r.id::text,
           jsonb_build_object('checkpoint_id', r.checkpoint_id, 'reason', 'withdrawn',
                              'cancelled_by', %(actor)s::text, 'cancelled_at', r.closed_at) || """
    + REQUEST_ABOUT
    + """
    FROM withdrawn r
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'request.withdraw', id::text, jsonb_build_object('workflow_id', workflow_id)
    FROM withdrawn
)
SELECT withdrawn.*, pg_notify('hitl_events', ''), pg_notify('hitl_requests', withdrawn.id::text)
FROM withdrawn
"""
)

# -- assignment ------------------------------------------------------------------------------------

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
