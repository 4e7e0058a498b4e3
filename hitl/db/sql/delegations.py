"""Delegations (``hitl_delegations``, migration 0022)."""

from __future__ import annotations

# Set (or replace) a person's delegation, with its audit entry.
SET_DELEGATION = """
WITH saved AS (
    INSERT INTO hitl_delegations (delegator, delegate, starts_at, ends_at, created_by)
    VALUES (%(delegator)s, %(delegate)s, %(starts_at)s, %(ends_at)s, %(actor)s)
    ON CONFLICT (delegator) DO UPDATE
    SET delegate = EXCLUDED.delegate, starts_at = EXCLUDED.starts_at,
        ends_at = EXCLUDED.ends_at, created_by = EXCLUDED.created_by, created_at = now()
    RETURNING *
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'delegation.set', delegator,
           jsonb_build_object('delegate', delegate, 'from', starts_at, 'until', ends_at)
    FROM saved
)
SELECT * FROM saved
"""

CLEAR_DELEGATION = """
WITH gone AS (
    DELETE FROM hitl_delegations WHERE delegator = %(delegator)s RETURNING *
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'delegation.clear', delegator, jsonb_build_object('delegate', delegate)
    FROM gone
)
SELECT * FROM gone
"""

GET_DELEGATION = "SELECT * FROM hitl_delegations WHERE delegator = %s"

# The delegations open now or later (at most one per person), for admins.
OPEN_DELEGATIONS = """
SELECT * FROM hitl_delegations WHERE ends_at > now() ORDER BY starts_at, delegator LIMIT %(limit)s
"""

# Whom a person answers for now: the people who delegated to them, directly or along a chain
# of delegations (each in its window), at most ``depth`` links long and never through a
# person twice (a cycle ends the chain); with each one's groups.
ACTING_FOR = """
WITH RECURSIVE chain (delegator, depth, path) AS (
    SELECT d.delegator, 1, ARRAY[d.delegate, d.delegator]
    FROM hitl_delegations d
    WHERE d.delegate = %(username)s AND now() >= d.starts_at AND now() < d.ends_at
  UNION ALL
    SELECT d.delegator, c.depth + 1, c.path || d.delegator
    FROM hitl_delegations d JOIN chain c ON d.delegate = c.delegator
    WHERE now() >= d.starts_at AND now() < d.ends_at AND c.depth < %(depth)s
      AND NOT d.delegator = ANY(c.path)
)
SELECT c.delegator, 'user:' || u.id AS subject, min(c.depth) AS depth,
       coalesce(array_agg(DISTINCT m.group_name) FILTER (WHERE m.group_name IS NOT NULL), '{}')
           AS groups
FROM chain c
JOIN hitl_users u ON u.username = c.delegator AND u.disabled_at IS NULL
LEFT JOIN hitl_group_members m ON m.user_id = u.id
GROUP BY c.delegator, u.id
ORDER BY min(c.depth), c.delegator
"""
