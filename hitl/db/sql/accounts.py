"""Identity (``hitl_users``, ``hitl_groups``, ``hitl_group_members``, ``hitl_sessions``,
``hitl_api_keys``, ``hitl_signin_failures``): accounts, groups, sessions, API keys and the
sign-in throttle.

Each change writes its audit entry in the same statement."""

from __future__ import annotations

# -- accounts -------------------------------------------------------------------------------------

CREATE_USER = """
WITH created AS (
    INSERT INTO hitl_users (username, display_name, email, password_hash, role)
    VALUES (%(username)s, %(display_name)s, %(email)s, %(password_hash)s, %(role)s)
    ON CONFLICT (username) DO NOTHING
    RETURNING *
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'user.create', 'user:' || username,
           jsonb_build_object('role', role, 'email', email)
    FROM created
)
SELECT * FROM created
"""

USER_COLUMNS = """
u.id, u.username, u.display_name, u.email, u.role, u.preferences, u.disabled_at, u.created_at,
u.updated_at,
coalesce((SELECT array_agg(m.group_name ORDER BY m.group_name) FROM hitl_group_members m
          WHERE m.user_id = u.id), '{}') AS groups
"""

GET_USER = f"SELECT {USER_COLUMNS}, u.password_hash FROM hitl_users u WHERE u.username = %s"

LIST_USERS = f"SELECT {USER_COLUMNS} FROM hitl_users u ORDER BY u.username"

ANY_ADMIN = """
SELECT EXISTS (SELECT 1 FROM hitl_users WHERE role = 'admin' AND disabled_at IS NULL) AS present
"""

# Disabling ends the person's sessions in the same statement.
SET_DISABLED = """
WITH changed AS (
    UPDATE hitl_users SET disabled_at = CASE WHEN %(disabled)s THEN now() END, updated_at = now()
    WHERE username = %(username)s
    RETURNING *
), ended AS (
    DELETE FROM hitl_sessions WHERE %(disabled)s AND user_id IN (SELECT id FROM changed)
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, CASE WHEN %(disabled)s THEN 'user.disable' ELSE 'user.enable' END,
           'user:' || username, '{}'::jsonb
    FROM changed
)
SELECT id FROM changed
"""

UPDATE_USER = """
WITH changed AS (
    UPDATE hitl_users SET
        role = coalesce(%(role)s, role),
        email = CASE WHEN %(set_email)s THEN %(email)s ELSE email END,
        display_name = coalesce(%(display_name)s, display_name),
        updated_at = now()
    WHERE username = %(username)s
    RETURNING *
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'user.update', 'user:' || username, %(changes)s FROM changed
)
SELECT id FROM changed
"""

# A new password ends every session but the one that set it.
SET_PASSWORD = """
WITH changed AS (
    UPDATE hitl_users SET password_hash = %(password_hash)s, updated_at = now()
    WHERE username = %(username)s
    RETURNING *
), ended AS (
    DELETE FROM hitl_sessions
    WHERE user_id IN (SELECT id FROM changed) AND token_hash IS DISTINCT FROM %(keep)s
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'user.password', 'user:' || username, '{}'::jsonb FROM changed
)
SELECT id FROM changed
"""

SET_PREFERENCES = """
UPDATE hitl_users SET preferences = preferences || %(preferences)s, updated_at = now()
WHERE id = %(user_id)s
RETURNING preferences
"""

# -- groups ---------------------------------------------------------------------------------------

ADD_TO_GROUP = """
WITH grp AS (
    INSERT INTO hitl_groups (name) VALUES (%(group)s) ON CONFLICT (name) DO NOTHING
), added AS (
    INSERT INTO hitl_group_members (group_name, user_id)
    SELECT %(group)s, id FROM hitl_users WHERE username = %(username)s
    ON CONFLICT DO NOTHING
    RETURNING user_id
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'group.add', 'user:' || %(username)s, jsonb_build_object('group', %(group)s)
    FROM added
)
SELECT EXISTS (SELECT 1 FROM hitl_users WHERE username = %(username)s) AS user_exists
"""

REMOVE_FROM_GROUP = """
WITH removed AS (
    DELETE FROM hitl_group_members
    WHERE group_name = %(group)s
      AND user_id = (SELECT id FROM hitl_users WHERE username = %(username)s)
    RETURNING user_id
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'group.remove', 'user:' || %(username)s,
           jsonb_build_object('group', %(group)s)
    FROM removed
)
SELECT EXISTS (SELECT 1 FROM hitl_users WHERE username = %(username)s) AS user_exists
"""

# -- sessions -------------------------------------------------------------------------------------

CREATE_SESSION = """
WITH created AS (
    INSERT INTO hitl_sessions (token_hash, user_id, csrf_token, expires_at)
    VALUES (%(token_hash)s, %(user_id)s, %(csrf)s,
            now() + least(%(ttl)s, %(max_age)s) * interval '1 second')
    RETURNING user_id
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(username)s, 'login', 'user:' || %(username)s, %(data)s FROM created
), swept AS (  -- logins are rare: a good moment to forget sessions that ran out
    DELETE FROM hitl_sessions WHERE expires_at < now() - interval '1 day'
)
SELECT user_id FROM created
"""

# The session, its person and their groups; a session in use is extended now and then (not on
# every request: that would be a write per page view), never past its maximum age from sign-in.
RESOLVE_SESSION = f"""
WITH s AS (
    SELECT s.token_hash, s.csrf_token, s.last_seen_at, {USER_COLUMNS}
    FROM hitl_sessions s JOIN hitl_users u ON u.id = s.user_id
    WHERE s.token_hash = %(token_hash)s AND s.expires_at > now() AND u.disabled_at IS NULL
      AND s.created_at > now() - %(max_age)s * interval '1 second'
), touched AS (
    UPDATE hitl_sessions SET last_seen_at = now(),
                             expires_at = least(now() + %(ttl)s * interval '1 second',
                                                created_at + %(max_age)s * interval '1 second')
    WHERE token_hash = (SELECT token_hash FROM s WHERE last_seen_at < now() - interval '1 minute')
)
SELECT * FROM s
"""

DELETE_SESSION = """
WITH ended AS (
    DELETE FROM hitl_sessions WHERE token_hash = %(token_hash)s RETURNING user_id
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT u.username, 'logout', 'user:' || u.username, '{}'::jsonb
    FROM ended JOIN hitl_users u ON u.id = ended.user_id
)
SELECT count(*) AS ended FROM ended
"""

# -- API keys -------------------------------------------------------------------------------------

# Serialises the creation of keys of one name, to the end of the transaction: with
# CREATE_KEY's check, two active keys never share a name (a key's name is who it is in the
# audit log and on every answer).
LOCK_KEY_NAME = "SELECT pg_advisory_xact_lock(hashtext('hitl_api_keys.name'), hashtext(%s))"

# A new key and its audit entry; no row when an active key has that name already.
CREATE_KEY = """
WITH created AS (
    INSERT INTO hitl_api_keys (name, prefix, key_hash, scopes, created_by)
    SELECT %(name)s, %(prefix)s, %(key_hash)s, %(scopes)s, %(actor)s
    WHERE NOT EXISTS (
        SELECT 1 FROM hitl_api_keys WHERE name = %(name)s AND revoked_at IS NULL
    )
    RETURNING *
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'apikey.create', 'apikey:' || prefix,
           jsonb_build_object('name', name, 'scopes', scopes)
    FROM created
)
SELECT * FROM created
"""

KEY_COLUMNS = "id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at"

LIST_KEYS = f"SELECT {KEY_COLUMNS} FROM hitl_api_keys ORDER BY created_at DESC, id DESC"

REVOKE_KEY = f"""
WITH revoked AS (
    UPDATE hitl_api_keys SET revoked_at = coalesce(revoked_at, now())
    WHERE prefix = %(prefix)s
    RETURNING {KEY_COLUMNS}
), audit AS (
    INSERT INTO hitl_audit (actor, action, subject, data)
    SELECT %(actor)s, 'apikey.revoke', 'apikey:' || prefix, jsonb_build_object('name', name)
    FROM revoked
)
SELECT *, pg_notify('hitl_keys', prefix) FROM revoked
"""

# A key in use has ``last_used_at`` kept to the minute (not written on every request).
RESOLVE_KEY = """
WITH k AS (
    SELECT id, name, scopes, last_used_at FROM hitl_api_keys
    WHERE key_hash = %s AND revoked_at IS NULL
), touched AS (
    UPDATE hitl_api_keys SET last_used_at = now()
    WHERE id = (SELECT id FROM k
                WHERE last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT id, name, scopes FROM k
"""


# -- sign-in throttling (hitl/auth/throttle.py) ----------------------------------------------------

# An attempt, counted against each of its keys before the password is checked, so that attempts
# made at once count too (a success takes itself back: SIGNIN_SUCCEEDED). A key's window starts
# at its first failure and lasts %(window)s seconds. Keys are taken in order: two attempts
# sharing keys cannot deadlock. Returns each key's count and the seconds its window has left.
COUNT_SIGNIN_ATTEMPT = """
INSERT INTO hitl_signin_failures AS f (key, failures, window_start)
SELECT k, 1, now() FROM unnest(%(keys)s::text[]) AS k ORDER BY k
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN f.window_start > now() - %(window)s * interval '1 second'
                    THEN f.failures + 1 ELSE 1 END,
    window_start = CASE WHEN f.window_start > now() - %(window)s * interval '1 second'
                        THEN f.window_start ELSE now() END
RETURNING key, failures,
          extract(epoch FROM window_start + %(window)s * interval '1 second' - now())::float8
              AS seconds_left
"""

# A sign-in that succeeded was no failure: the account's count starts over, the address's
# drops the attempt.
SIGNIN_SUCCEEDED = """
WITH account AS (
    DELETE FROM hitl_signin_failures WHERE key = %(user_key)s
)
UPDATE hitl_signin_failures SET failures = greatest(failures - 1, 0)
WHERE key = %(address_key)s
"""
