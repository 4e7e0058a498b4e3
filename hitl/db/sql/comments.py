"""Comments on requests (``hitl_request_comments``, migrations 0019 and 0026)."""

from __future__ import annotations

from hitl.db.sql.events import REQUEST_ABOUT

# A comment, with its event (``request.commented``), its audit entry (with the text: the
# discussion is part of the record) and, when it names people, a ``request.mentioned`` event
# addressed to them (the notification trigger of 0006 reads its ``assignees``). The mentions
# kept are the names that are users; the thread kept is the request's (the timeline reads a
# thread's comments by it). No row: the request does not exist.
ADD_COMMENT = (
    """
WITH req AS (
    SELECT * FROM hitl_requests WHERE id = %(request_id)s
), named AS (
    SELECT coalesce(array_agg(u.username ORDER BY u.username), '{}') AS names
    FROM hitl_users u WHERE u.username = ANY(%(mentions)s::text[]) AND u.disabled_at IS NULL
), added AS (
    INSERT INTO hitl_request_comments (request_id, thread_id, author, author_subject, body,
                                       mentions)
    SELECT r.id, r.thread_id, %(author)s, %(author_subject)s, %(body)s, n.names
    FROM req r, named n
    RETURNING *
), commented AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.commented', r.id::text,
           jsonb_build_object('comment_id', a.id, 'by', a.author, 'mentions', a.mentions)
           || """
    + REQUEST_ABOUT
    + """
    FROM req r, added a
), mentioned AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.mentioned', r.id::text,
           jsonb_build_object('request_id', r.id, 'kind', r.kind, 'thread_id', r.thread_id,
                              'graph', r.graph, 'comment_id', a.id, 'by', a.author,
                              'assignees', to_jsonb(a.mentions), 'groups', '[]'::jsonb,
                              'deadline_at', r.deadline_at)
    FROM req r, added a WHERE cardinality(a.mentions) > 0
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT a.author, 'request.comment', a.request_id::text,
           jsonb_build_object('comment_id', a.id, 'body', a.body, 'mentions', a.mentions)
    FROM added a
)
SELECT added.*, pg_notify('hitl_events', '') FROM added
"""
)

# A request's comments, oldest first.
COMMENTS_OF_REQUEST = """
SELECT * FROM hitl_request_comments WHERE request_id = %s ORDER BY created_at, id
"""
