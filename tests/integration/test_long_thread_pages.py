"""A long thread's pages show its latest requests and link to the earlier ones, a page at a
time, instead of its whole history."""

from __future__ import annotations

import html
import re

import httpx
import psycopg

from hitl.config import Settings
from hitl.ui import routes
from tests.support.api import pending, settle, start

PAST = routes.PAGE_SIZE + 20


def _seed_history(database_url: str, thread_id: str) -> list[str]:
    """``PAST`` settled requests on the thread, older than its pending one; their ids, oldest
    first."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            """INSERT INTO hitl_requests (thread_id, interrupt_id, graph, value, state,
                                          response, responded_by, responded_at, closed_at,
                                          created_at)
               SELECT %s, 'past-' || i, 'approval', '{"question": "approve?"}', 'resumed',
                      '{"decision": "approve"}', 'ann', now() - interval '1 hour',
                      now() - interval '1 hour', now() - (%s - i + 2) * interval '1 minute'
               FROM generate_series(1, %s) i
               RETURNING id, created_at""",
            (thread_id, PAST, PAST),
        ).fetchall()
    return [str(r[0]) for r in sorted(rows, key=lambda r: r[1])]


def _links(page: str) -> list[str]:
    return re.findall(r'href="/requests/([0-9a-f-]{36})"', page)


async def test_the_thread_page_pages_its_history(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [asking] = await pending(client, thread_id)
    past = _seed_history(settings.database_url or "", thread_id)

    first = await client.get(f"/threads/{thread_id}")
    assert first.status_code == 200
    shown = set(_links(first.text))
    assert asking["id"] in shown  # waiting for people, and the newest of the history
    latest = past[-(routes.PAGE_SIZE - 1) :]  # the rest of the first page
    assert set(latest) <= shown and not set(past[: -(routes.PAGE_SIZE - 1)]) & shown
    earlier = re.search(r'href="([^"]+)" rel="next">Earlier in the thread', first.text)
    assert earlier is not None

    second = await client.get(html.unescape(earlier.group(1)))
    assert second.status_code == 200
    assert set(past[: -(routes.PAGE_SIZE - 1)]) <= set(_links(second.text))
    assert not set(latest) & set(_links(second.text))
    assert "Earlier in the thread" not in second.text and "Latest in the thread" in second.text

    lost = await client.get(f"/threads/{thread_id}", params={"cursor": "not-a-cursor"})
    assert lost.status_code == 303 and lost.headers["location"] == f"/threads/{thread_id}"


async def test_the_request_page_shows_the_latest_of_the_thread(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [asking] = await pending(client, thread_id)
    past = _seed_history(settings.database_url or "", thread_id)

    page = await client.get(f"/requests/{asking['id']}")
    assert page.status_code == 200
    timeline = page.text.split('id="timeline-h"')[1].split("</section>")[0]
    shown = _links(timeline)
    assert shown == [*past[-(routes.TIMELINE_SIZE - 1) :], asking["id"]]  # oldest first
    earlier = re.search(r'href="(/threads/[^"]+)">Earlier in the thread', timeline)
    assert earlier is not None
    more = await client.get(html.unescape(earlier.group(1)))
    # the thread page, from the request just before those shown
    assert more.status_code == 200 and past[-routes.TIMELINE_SIZE] in _links(more.text)
    assert past[-routes.TIMELINE_SIZE + 1] not in _links(more.text)
