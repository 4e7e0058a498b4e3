"""Slack app mode: the messages posted about requests, people's Slack users, replayed
interactivity requests (``hitl_slack_messages``, ``hitl_users.slack_user_id``,
``hitl_slack_seen``; hitl/notifications/slack_app.py)."""

from __future__ import annotations

POSTED = """
SELECT destination FROM hitl_slack_messages WHERE notification_id = %s
"""

RECORD_MESSAGE = """
INSERT INTO hitl_slack_messages (request_id, notification_id, destination, channel, ts)
VALUES (%(request_id)s, %(notification_id)s, %(destination)s, %(channel)s, %(ts)s)
ON CONFLICT (notification_id, destination) DO NOTHING
"""

MESSAGES_OF_REQUEST = """
SELECT id, channel, ts FROM hitl_slack_messages WHERE request_id = %s ORDER BY id
"""

# Each destination's first copy of a request: where its reminders go, as replies.
FIRST_COPIES = """
SELECT DISTINCT ON (destination) destination, channel, ts FROM hitl_slack_messages
WHERE request_id = %s AND ts <> '' ORDER BY destination, id
"""

TOUCH_MESSAGE = "UPDATE hitl_slack_messages SET updated_at = now() WHERE id = %s"

# The assignees' accounts that may get a direct message: enabled, able to answer.
PEOPLE = """
SELECT username, email, slack_user_id FROM hitl_users
WHERE username = ANY(%s::text[]) AND disabled_at IS NULL AND role IN ('admin', 'responder')
ORDER BY username
"""

# An account's Slack user, as Slack matched it: taken only if no other account has it.
LINK_USER = """
UPDATE hitl_users SET slack_user_id = %(slack_user_id)s
WHERE username = %(username)s
  AND NOT EXISTS (SELECT 1 FROM hitl_users WHERE slack_user_id = %(slack_user_id)s)
"""

ACCOUNT_COLUMNS = """
u.id, u.username, u.display_name, u.role, u.disabled_at,
coalesce(ARRAY(SELECT m.group_name FROM hitl_group_members m WHERE m.user_id = u.id
               ORDER BY m.group_name), '{}') AS groups
"""

ACCOUNT_OF_SLACK_USER = f"SELECT {ACCOUNT_COLUMNS} FROM hitl_users u WHERE u.slack_user_id = %s"

# The accounts with this address (compared as Slack does, ignoring case) and no Slack user yet.
ACCOUNTS_OF_EMAIL = f"""
SELECT {ACCOUNT_COLUMNS} FROM hitl_users u
WHERE lower(btrim(u.email)) = lower(btrim(%s)) AND u.slack_user_id IS NULL
"""

# A signed request seen for the first time (a row back), or a replay (none). Signatures older
# than Slack's window go, as they cannot pass the timestamp check any more.
SEEN = """
WITH gone AS (
    DELETE FROM hitl_slack_seen WHERE seen_at < now() - interval '10 minutes'
)
INSERT INTO hitl_slack_seen (signature_hash) VALUES (%s)
ON CONFLICT (signature_hash) DO NOTHING
RETURNING signature_hash
"""

# A link offered to a Slack user; links that expired go (they cannot be used any more).
OFFER_LINK = """
WITH gone AS (DELETE FROM hitl_slack_links WHERE expires_at < now() - interval '1 day')
INSERT INTO hitl_slack_links (token_hash, slack_user_id, expires_at)
VALUES (%(token_hash)s, %(slack_user_id)s, now() + %(ttl)s * interval '1 second')
"""

PEEK_LINK = """
SELECT slack_user_id FROM hitl_slack_links
WHERE token_hash = %s AND used_at IS NULL AND expires_at > now()
"""

USE_LINK = """
UPDATE hitl_slack_links SET used_at = now()
WHERE token_hash = %s AND used_at IS NULL AND expires_at > now()
RETURNING slack_user_id
"""

# The Slack user moves to this account (from any other: Slack vouched it is theirs).
UNLINK_SLACK_USER = """
UPDATE hitl_users SET slack_user_id = NULL WHERE slack_user_id = %s AND id <> %s
"""

SET_SLACK_USER = "UPDATE hitl_users SET slack_user_id = %s WHERE id = %s"

SLACK_USER_OF = "SELECT slack_user_id FROM hitl_users WHERE id = %s"
