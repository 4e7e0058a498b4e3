"""A pending request's timers (``hitl_requests.timer_at``): reminders, escalation, expiry.

Due timers are claimed with ``FOR UPDATE SKIP LOCKED`` and acted on in the claiming
transaction (hitl/timers.py), so a timer fires once however many workers poll.
"""

from __future__ import annotations

from hitl.db.sql.events import REQUEST_ABOUT
from hitl.db.sql.requests import queue_resume

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
        approval = coalesce(%(approval)s::jsonb, r.approval),
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
               'approval', approval,
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
       pg_notify('hitl_threads', thread_id), pg_notify('hitl_requests', id::text)
FROM expired
"""
)
