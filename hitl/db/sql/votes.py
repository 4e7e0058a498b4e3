"""Votes on quorum requests (``hitl_request_votes``, migration 0021)."""

from __future__ import annotations

from hitl.db.sql.events import REQUEST_ABOUT

# The request, its row locked: votes on one request are counted one at a time.
LOCK_REQUEST = "SELECT * FROM hitl_requests WHERE id = %s FOR UPDATE"

# A vote, with its event (``request.voted``) and audit entry (``request.vote``); no row when
# this person voted already (one person, one vote).
ADD_VOTE = (
    """
WITH added AS (
    INSERT INTO hitl_request_votes (request_id, voter_subject, voter, vote, decision, via)
    VALUES (%(request_id)s, %(subject)s, %(voter)s, %(vote)s, %(decision)s, %(via)s)
    ON CONFLICT (request_id, voter_subject) DO NOTHING
    RETURNING *
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'request.voted', r.id::text,
           jsonb_build_object('by', a.voter, 'decision', a.decision, 'via', a.via) || """
    + REQUEST_ABOUT
    + """
    FROM added a JOIN hitl_requests r ON r.id = a.request_id
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT voter, 'request.vote', request_id::text,
           jsonb_build_object('vote', vote, 'via', via)
    FROM added
)
SELECT added.*, pg_notify('hitl_events', '') FROM added
"""
)

# A request's votes, oldest first.
VOTES_OF_REQUEST = """
SELECT * FROM hitl_request_votes WHERE request_id = %s ORDER BY created_at, voter_subject
"""
