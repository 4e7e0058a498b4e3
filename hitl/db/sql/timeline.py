"""A timeline's pages (`hitl.timeline`): a thread's requests and the comments on them, each
read newest first before a cursor, at most a page of each (indexes ``hitl_requests_thread``
and ``hitl_request_comments_thread``, ``_request`` for an external request's comments).

The cursor is the last entry shown: a time ``at`` and either a request's id (``request_key``)
or a comment's (``comment_key``), the other NULL. At one time a request comes before the
comments (oldest first), so a page that ended on a comment goes on with every request of that
time, and one that ended on a request with none of that time's comments; ``at`` NULL: the
first page.
"""

from __future__ import annotations

REQUESTS_BEFORE = """
SELECT * FROM hitl_requests
WHERE thread_id = %(thread_id)s
  AND (%(at)s::timestamptz IS NULL
       OR (created_at <= %(at)s
           AND (created_at < %(at)s OR %(request_key)s::uuid IS NULL
                OR id < %(request_key)s::uuid)))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""

COMMENTS_OF_THREAD_BEFORE = """
SELECT * FROM hitl_request_comments
WHERE thread_id = %(thread_id)s
  AND (%(at)s::timestamptz IS NULL
       OR (created_at <= %(at)s AND (created_at < %(at)s OR id < %(comment_key)s::bigint)))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""

# An external request's comments (it has no thread).
COMMENTS_OF_REQUEST_BEFORE = """
SELECT * FROM hitl_request_comments
WHERE request_id = %(request_id)s
  AND (%(at)s::timestamptz IS NULL
       OR (created_at <= %(at)s AND (created_at < %(at)s OR id < %(comment_key)s::bigint)))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""

# The requests commented on that a page shows without their own entry (asked on an earlier
# page): as many rows as ids.
REQUESTS_BY_ID = """
SELECT * FROM hitl_requests WHERE id = ANY(%s::uuid[])
"""
