"""Comments in the timeline (hitl/timeline.py): the request page's thread timeline and the
thread page's history interleave a thread's requests and the comments on them by time, a page
at a time; who may not read requests sees none of them. Real Postgres, the service's app
in-process, the pages' HTML."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from hitl.config import Settings
from hitl.ui import routes
from tests.integration.test_answer_reassigned import signed_in
from tests.support import auth
from tests.support.api import pending, respond, settle, start


async def comment(who: httpx.AsyncClient, request_id: str, body: str) -> dict[str, Any]:
    r = await who.post(f"/api/v1/requests/{request_id}/comments", json={"body": body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def timeline_of(page: str) -> str:
    """The timeline's list in a page's HTML."""
    section = page.split('id="timeline-h"')[1]
    return section.split('<ol class="timeline">')[1].split("</ol>")[0]


ENTRY = re.compile(
    r'<li class="asked[^>]*>\s*<p>.*?href="/requests/(?P<request>[0-9a-f-]{36})"'
    r'|<li class="comment[^"]*" id="comment-(?P<comment>\d+)"',
    re.S,
)


def entries(page: str) -> list[str]:
    """The timeline's entries, oldest first: ``asked:<request id>`` or ``comment:<id>``."""
    return [
        f"asked:{m['request']}" if m["request"] else f"comment:{m['comment']}"
        for m in ENTRY.finditer(timeline_of(page))
    ]


async def two_turns(
    client: httpx.AsyncClient, ana: httpx.AsyncClient
) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A thread whose first request Ana discussed (mentioning Bo) before it was answered, and
    whose second turn asked again: (thread id, first request, the comment, second request)."""
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [first] = await pending(client, thread_id)
    said = await comment(ana, first["id"], "@bo is <b>this</b> the rollback plan?")
    assert (await respond(client, first["id"], {"decision": "approve"})).status_code == 200
    assert (await settle(client, thread_id))["status"] == "completed"
    r = await client.post(
        f"/lg/threads/{thread_id}/runs/wait", json={"assistant_id": "approval", "input": {}}
    )
    assert r.status_code == 200, r.text
    [second] = await pending(client, thread_id)
    return thread_id, first, said, second


async def test_a_comment_sits_between_the_requests_it_came_between(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    await signed_in(client, client_for, "bo")
    thread_id, first, said, second = await two_turns(client, ana)
    in_order = [f"asked:{first['id']}", f"comment:{said['id']}", f"asked:{second['id']}"]

    page = (await ana.get(f"/requests/{second['id']}")).text
    assert entries(page) == in_order
    shown = timeline_of(page)
    # who, when, what (escaped, the mention marked) and on which request
    assert '<strong class="author">ana</strong> commented <time datetime=' in shown
    assert '<strong class="mention">@bo</strong> is &lt;b&gt;this&lt;/b&gt; the rollback' in shown
    assert f'on <a href="/requests/{first["id"]}">' in shown
    assert "Discussion</h2>" not in page  # no second list of the same comments
    assert 'id="discussion"' in page and "Add to the discussion" in page  # the composer stays

    history = (await ana.get(f"/threads/{thread_id}")).text
    assert entries(history) == in_order

    # on the request it is about, the comment says so
    page = (await ana.get(f"/requests/{first['id']}")).text
    assert "commented" in timeline_of(page) and "on this request" in timeline_of(page)

    # a comment now comes last, whichever request it is on
    later = await comment(client, first["id"], "Noted for the post-mortem.")
    page = (await ana.get(f"/requests/{second['id']}")).text
    assert entries(page) == [*in_order, f"comment:{later['id']}"]


async def test_who_may_not_read_requests_sees_no_comment_in_the_thread(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    """The thread page is ``threads:read``'s; its history and the comments in it are
    ``requests:read``'s, as ``GET /api/v1/requests/{id}/comments`` is."""
    ana = await signed_in(client, client_for, "ana")
    await signed_in(client, client_for, "bo")
    thread_id, _, _, second = await two_turns(client, ana)
    await comment(ana, second["id"], "Secret: the numbers are off.")

    threads_only = client_for(await auth.make_key(client, "threads:read", name="threads"))
    page = await threads_only.get(f"/threads/{thread_id}")
    assert page.status_code == 200
    assert entries(page.text) == [f"asked:{second['id']}"]  # what waits, nothing before it
    assert "rollback" not in page.text and "Secret" not in page.text
    assert (await threads_only.get(f"/requests/{second['id']}")).status_code == 403
    r = await threads_only.get(f"/api/v1/requests/{second['id']}/comments")
    assert r.status_code == 403

    readers = client_for(await auth.make_key(client, "threads:read", "requests:read", name="r"))
    page = await readers.get(f"/threads/{thread_id}")
    assert "rollback" in page.text and "Secret: the numbers are off." in page.text


def _seed_discussion(database_url: str, request_id: str, thread_id: str | None, n: int) -> None:
    """``n`` comments on the request, after it, in threes that share their time (the order
    must not depend on times being distinct)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO hitl_request_comments (request_id, thread_id, author, author_subject,
                                                  body, created_at)
               SELECT r.id, %s, 'cy', 'user:0', 'note ' || i,
                      r.created_at + (i / 3 + 1) * interval '1 second'
               FROM hitl_requests r, generate_series(1, %s) i WHERE r.id = %s""",
            (thread_id, n, request_id),
        )


async def walk(client: httpx.AsyncClient, url: str, link: str) -> list[list[str]]:
    """Every page of a timeline from ``url``, following ``link``'s text: each page's entries."""
    seen = []
    while True:
        r = await client.get(url)
        assert r.status_code == 200, r.text
        seen.append(entries(r.text))
        more = re.search(rf'href="([^"]+)"(?: rel="next")?>{link}</a>', r.text)
        if more is None:
            return seen
        url = html.unescape(more.group(1))


async def test_a_long_discussion_is_read_a_page_at_a_time(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [asking] = await pending(client, thread_id)
    many = 2 * routes.PAGE_SIZE + 7
    _seed_discussion(settings.database_url or "", asking["id"], thread_id, many)

    # the request page: the latest of the timeline, the rest on the thread page
    page = (await client.get(f"/requests/{asking['id']}")).text
    latest = entries(page)
    assert len(latest) == routes.TIMELINE_SIZE
    assert all(e.startswith("comment:") for e in latest)
    assert "Earlier in the thread" in page

    # the thread page, page after page: every entry once, newest pages first, each in order
    pages = await walk(client, f"/threads/{thread_id}", "Earlier in the thread")
    assert [len(p) for p in pages] == [routes.PAGE_SIZE, routes.PAGE_SIZE, 8]
    everything = [e for p in reversed(pages) for e in p]
    assert everything[0] == f"asked:{asking['id']}"
    ids = [int(e.split(":")[1]) for e in everything[1:]]
    assert ids == sorted(ids) and len(set(ids)) == many  # seeded oldest first
    assert pages[0][-routes.TIMELINE_SIZE :] == latest

    # a cursor that is not ours: back to the latest
    r = await client.get(f"/threads/{thread_id}", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert r.status_code == 303 and r.headers["location"] == f"/threads/{thread_id}"


async def test_an_external_requests_timeline_is_itself_and_its_comments(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    r = await client.post("/api/v1/requests", json={"workflow_id": "wf", "context": {"q": 1}})
    assert r.status_code == 201, r.text
    request = r.json()
    said = await comment(client, request["id"], "Who owns the @nobody rollback?")
    page = (await client.get(f"/requests/{request['id']}")).text
    assert '<h2 id="timeline-h">Timeline</h2>' in page
    assert entries(page) == [f"asked:{request['id']}", f"comment:{said['id']}"]
    assert " on " not in timeline_of(page)  # one request: nothing to tell apart

    _seed_discussion(settings.database_url or "", request["id"], None, routes.TIMELINE_SIZE + 5)
    pages = await walk(client, f"/requests/{request['id']}", "Earlier in the discussion")
    assert [len(p) for p in pages] == [routes.TIMELINE_SIZE, 7]
    everything = [e for p in reversed(pages) for e in p]
    assert everything[:2] == [f"asked:{request['id']}", f"comment:{said['id']}"]
    assert len(set(everything)) == routes.TIMELINE_SIZE + 7
    r = await client.get(f"/requests/{request['id']}", params={"cursor": "garbage"})
    assert r.status_code == 303 and r.headers["location"] == f"/requests/{request['id']}"
