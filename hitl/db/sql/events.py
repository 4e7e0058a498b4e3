"""The event outbox (``hitl_events``): what a request event says of its request; the relay.

Every state change writes its event into ``hitl_events`` in the statement that makes the change
(the statements of the other families insert there); the relay (hitl/events.py) publishes the
unrelayed ones.
"""

from __future__ import annotations

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
