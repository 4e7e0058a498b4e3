"""One-click answer tokens (``hitl_answer_tokens``, hitl/notifications/tokens.py): stored as
hashes, looked up with the person and the request they answer, used once."""

from __future__ import annotations

ISSUE = """
INSERT INTO hitl_answer_tokens
    (token_hash, request_id, user_id, choice, label, notification_id, expires_at)
SELECT %(token_hash)s, %(request_id)s, u.id, %(choice)s, %(label)s, %(notification_id)s,
       %(expires_at)s
FROM hitl_users u WHERE u.username = %(username)s
RETURNING token_hash
"""

# The token with its person (role, groups, whether enabled) as the token's page shows them.
LOOKUP = """
SELECT t.request_id, t.choice, t.label, t.expires_at, t.used_at, t.expires_at <= now() AS expired,
       u.id AS user_id, u.username, u.display_name, u.role, u.disabled_at,
       coalesce(ARRAY(SELECT m.group_name FROM hitl_group_members m WHERE m.user_id = u.id
                      ORDER BY m.group_name), '{}') AS groups
FROM hitl_answer_tokens t JOIN hitl_users u ON u.id = t.user_id
WHERE t.token_hash = %s
"""

# Spend the token: once, and only before it expires. In the answer's transaction, so a refused
# answer (already answered, not valid) leaves it unspent.
USE = """
UPDATE hitl_answer_tokens SET used_at = now()
WHERE token_hash = %s AND used_at IS NULL AND expires_at > now()
RETURNING request_id
"""
