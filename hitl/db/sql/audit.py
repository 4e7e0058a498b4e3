"""The audit log (``hitl_audit``): append an entry, list entries newest first.

Append-only: besides these, only the ``audit`` CTEs of the other families insert, and only
retention deletes (hitl/db/sql/retention.py)."""

from __future__ import annotations

RECORD = """
INSERT INTO hitl_audit (actor, action, subject, data) VALUES (%s, %s, %s, %s)
"""

LIST = """
SELECT id, at, actor, action, subject, data FROM hitl_audit
WHERE (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(subject)s::text IS NULL OR subject = %(subject)s)
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
  AND (%(after_id)s::bigint IS NULL OR id < %(after_id)s)
ORDER BY id DESC
LIMIT %(limit)s
"""
