"""Votes on quorum requests (``hitl_request_votes``, migrations 0021 and 0024)."""

from __future__ import annotations

from hitl.db.sql.events import REQUEST_ABOUT

# The request, its row locked: votes on one request are counted one at a time.
LOCK_REQUEST = "SELECT * FROM hitl_requests WHERE id = %s FOR UPDATE"

# A vote, with its event (``request.voted``) and audit entry (``request.vote``); no row when
# the person it counts for was counted already (one person, one vote).
ADD_VOTE = (
    """
WITH added AS (
    INSERT INTO hitl_request_votes
        (request_id, voter_subject, voter, counts_for, responded_for, vote, decision, via)
    VALUES (%(request_id)s, %(subject)s, %(voter)s, %(counts_for)s, %(responded_for)s,
            %(vote)s, %(decision)s, %(via)s)
    ON CONFLICT (request_id, counts_for) DO NOTHING
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.voted', r.id::text,
           jsonb_build_object('by', a.voter, 'for', a.responded_for, 'decision', a.decision,
                              'via', a.via) || """
    + REQUEST_ABOUT
    + """
    FROM added a JOIN hitl_requests r ON r.id = a.request_id
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT voter, 'request.vote', request_id::text,
           jsonb_build_object('vote', vote, 'via', via, 'for', responded_for)
    FROM added
)
SELECT added.*, pg_notify('hitl_events', '') FROM added
"""
)

# A request's votes, oldest first.
VOTES_OF_REQUEST = """
SELECT * FROM hitl_request_votes WHERE request_id = %s ORDER BY created_at, voter_subject
"""

# The people who may vote on a closed list (`hitl.quorum`): enabled users who may answer
# (responders and admins) named in %(assignees)s or members of %(groups)s, and, with
# %(admins)s, every enabled admin.
VOTER_POOL = """
SELECT u.username FROM hitl_users u
WHERE u.disabled_at IS NULL AND u.role IN ('admin', 'responder')
  AND (u.username = ANY(%(assignees)s::text[])
       OR (%(admins)s AND u.role = 'admin')
       OR EXISTS (SELECT 1 FROM hitl_group_members m
                  WHERE m.user_id = u.id AND m.group_name = ANY(%(groups)s::text[])))
"""
