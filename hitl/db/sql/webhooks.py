"""Webhook endpoints (``hitl_webhook_endpoints``): registration, rotation and disabling.

Endpoint statements take ``owner``: the subject whose endpoints alone the caller may see and
change, NULL for every endpoint (admins).
"""

from __future__ import annotations

# The enabled endpoint registered for a callback URL that the caller may name: one it owns
# (admins own those without an owner) or one shared with it; its own first, then the newest.
FIND_CALLBACK_ENDPOINT = """
SELECT id FROM hitl_webhook_endpoints
WHERE url = %(url)s AND enabled
  AND (owner = %(subject)s OR (owner IS NULL AND %(admin)s)
       OR shared_with && ARRAY[%(subject)s, '*'])
ORDER BY owner IS NOT DISTINCT FROM %(subject)s DESC, created_at DESC
LIMIT 1
"""

CREATE_ENDPOINT = """
INSERT INTO hitl_webhook_endpoints (url, description, events, secret, owner, owner_name,
                                    shared_with)
VALUES (%(url)s, %(description)s, %(events)s, %(secret)s, %(owner)s, %(owner_name)s,
        %(shared_with)s)
RETURNING *
"""

GET_ENDPOINT = """
SELECT * FROM hitl_webhook_endpoints
WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
"""

LIST_ENDPOINTS = """
SELECT * FROM hitl_webhook_endpoints
WHERE (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(key)s::uuid))
  AND (%(owner)s::text IS NULL OR owner = %(owner)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""

# The subjects among these that name no user or API key.
UNKNOWN_SUBJECTS = """
SELECT s FROM unnest(%s::text[]) s
WHERE NOT EXISTS (SELECT 1 FROM hitl_users u WHERE s = 'user:' || u.id)
  AND NOT EXISTS (SELECT 1 FROM hitl_api_keys k WHERE s = 'key:' || k.id)
"""

# NULL parameters leave a field as it is; enabling again forgets the failure streak.
UPDATE_ENDPOINT = """
UPDATE hitl_webhook_endpoints
SET events = coalesce(%(events)s::text[], events),
    description = coalesce(%(description)s::text, description),
    enabled = coalesce(%(enabled)s::boolean, enabled),
    shared_with = coalesce(%(shared_with)s::text[], shared_with),
    disabled_reason = CASE WHEN %(enabled)s::boolean IS NULL THEN disabled_reason
                           WHEN %(enabled)s::boolean THEN NULL
                           ELSE 'disabled through the API' END,
    failing_since = CASE WHEN %(enabled)s::boolean THEN NULL ELSE failing_since END,
    updated_at = now()
WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
RETURNING *
"""

DELETE_ENDPOINT = """
DELETE FROM hitl_webhook_endpoints
WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
RETURNING id
"""

ROTATE_SECRET = """
UPDATE hitl_webhook_endpoints
SET previous_secret = secret, secret = %(secret)s,
    previous_secret_expires_at = now() + %(grace)s * interval '1 second', updated_at = now()
WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
RETURNING *
"""

# The service disables an endpoint (410 Gone, or failing too long) and says so in an event.
DISABLE_ENDPOINT = """
WITH endpoint AS (
    UPDATE hitl_webhook_endpoints
    SET enabled = false, disabled_reason = %(reason)s, updated_at = now()
    WHERE id = %(id)s AND enabled
    RETURNING id, url
), event AS (
    INSERT INTO hitl_events (type, subject, data)
    SELECT 'webhook.endpoint_disabled', id::text,
           jsonb_build_object('endpoint_id', id, 'url', url, 'reason', %(reason)s)
    FROM endpoint
)
SELECT id, pg_notify('hitl_events', '') FROM endpoint
"""
