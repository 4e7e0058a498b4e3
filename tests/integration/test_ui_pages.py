"""The web UI's server-rendered pages, over httpx (no browser); the schema-to-form logic is
tested without a server in tests/unit/test_ui_forms.py."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb

from graphs.samples import HIGH_RISK_DIFF
from hitl.config import Settings
from hitl.service import Service
from hitl.ui import routes
from tests.support import auth
from tests.support.api import GRAPH_MODULES, pending, respond, settle, start


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """As the shared fixture, plus the LangChain agent (its interrupts are middleware-shaped)."""
    return settings.model_copy(update={"graphs": GRAPH_MODULES + ",graphs.langchain_agent"})


async def review_request(client: httpx.AsyncClient) -> dict[str, Any]:
    thread_id = await start(client, "code_review", {"diff": HIGH_RISK_DIFF, "author": "mallory"})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


async def request_state(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/requests/{request_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def insert_request(
    service: Service, client: httpx.AsyncClient, value: Any, schema: Any = None
) -> str:
    """A request with any value and schema, on a thread of its own (for rendering only)."""
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO hitl_requests (thread_id, interrupt_id, graph, value, response_schema)"
            " VALUES (%s, %s, 'approval', %s, %s) RETURNING id",
            (thread_id, uuid.uuid4().hex, Jsonb(value), Jsonb(schema) if schema else None),
        )
        row = await cur.fetchone()
    assert row is not None
    return str(row["id"])


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded, spaces squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def control(page: str, name: str) -> str:
    """The HTML of the control (input/textarea/select) named ``name``."""
    m = re.search(rf'<(input|textarea|select)\b[^>]*\bname="{re.escape(name)}"[^>]*>', page)
    assert m, f"no control named {name!r}"
    return m.group(0)


# -- inbox ----------------------------------------------------------------------------------------


async def test_inbox_lists_a_pending_request_with_counts(client: httpx.AsyncClient) -> None:
    request = await review_request(client)
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert f'href="/requests/{request["id"]}"' in r.text
    text = text_of(r.text)
    assert "Change to migrations/0007_drop_users.sql, auth/login.py" in text
    assert "code_review" in text
    assert re.search(r'data-state="pending">1<', r.text)
    assert 'data-live-src="/?state=pending&amp;fragment=live"' in r.text

    fragment = await client.get("/", params={"fragment": "live"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert f'href="/requests/{request["id"]}"' in fragment.text

    answered = await client.get("/", params={"state": "responded"})
    assert f'href="/requests/{request["id"]}"' not in answered.text
    assert "No requests match." in answered.text


async def test_inbox_filters_by_graph_and_pages_with_a_cursor(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "PAGE_SIZE", 1)
    review = await review_request(client)
    other = await start(client, "approval", {})
    await settle(client, other)
    [approval] = await pending(client, other)

    only_reviews = await client.get("/", params={"graph": "code_review"})
    assert f"/requests/{review['id']}" in only_reviews.text
    assert f"/requests/{approval['id']}" not in only_reviews.text

    first = await client.get("/")
    assert f"/requests/{approval['id']}" in first.text  # newest first
    match = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
    assert match, "no next page link"
    second = await client.get(html.unescape(match.group(1)))
    assert f"/requests/{review['id']}" in second.text
    assert 'rel="next"' not in second.text

    stale = await client.get("/", params={"cursor": "not-a-cursor"})
    assert stale.status_code == 303


# -- request page and answers ---------------------------------------------------------------------


async def test_request_page_shows_the_diff_findings_and_generated_form(
    client: httpx.AsyncClient,
) -> None:
    request = await review_request(client)
    r = await client.get(f"/requests/{request['id']}")
    assert r.status_code == 200
    page = r.text
    assert '<span class="d-add">+DROP TABLE users;</span>' in page
    assert '<span class="d-del">-    return hmac.compare_digest' in page
    assert '<span class="d-hunk">@@ -1,4 +1,8 @@</span>' in page
    text = text_of(page)
    assert "Risk high (score 100 of 100)" in text
    assert "author mallory" in text
    assert "database migration" in text
    for choice in ("approve", "reject", "request_changes"):
        radio = control(page, "decision").replace('value="approve"', f'value="{choice}"')
        assert re.search(rf'<input type="radio" name="decision" value="{choice}"', page), radio
    assert "<legend>Decision" in page and "(required)" in page
    assert 'maxlength="5000"' in control(page, "comment")
    assert control(page, "comment").startswith("<textarea")
    assert "Answering as tests" in text  # the API key's name
    assert "Thread timeline" in text


async def test_invalid_answer_rerenders_with_the_error_at_the_field_and_keeps_input(
    client: httpx.AsyncClient,
) -> None:
    request = await review_request(client)
    r = await client.post(
        f"/requests/{request['id']}/answer",
        data={"comment": "Looks <b>fine</b> to me"},
    )
    assert r.status_code == 422
    page = r.text
    decision = re.search(
        r'<fieldset class="choice invalid" id="f-decision".*?</fieldset>', page, re.S
    )
    assert decision, "the decision fieldset is not marked invalid"
    assert "This field is required." in decision.group(0)
    assert 'aria-invalid="true"' in decision.group(0)
    assert "Looks &lt;b&gt;fine&lt;/b&gt; to me</textarea>" in page

    wrong = await client.post(f"/requests/{request['id']}/answer", data={"decision": "maybe"})
    assert wrong.status_code == 422
    assert "&#39;maybe&#39; is not one of" in wrong.text
    assert (await request_state(client, request["id"]))["state"] == "pending"


async def test_valid_answer_redirects_and_a_second_one_gets_the_conflict(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    request = await review_request(client)
    password = await auth.make_user(client, "ann", display_name="Ann Reviewer")
    ann = client_for()
    csrf = await auth.sign_in(ann, "ann", password)
    page = await ann.get(f"/requests/{request['id']}")
    assert "Answering as Ann Reviewer" in text_of(page.text)
    r = await ann.post(
        f"/requests/{request['id']}/answer",
        data={"_csrf": csrf, "decision": "approve", "comment": "ok"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/requests/{request['id']}#answer"
    stored = await request_state(client, request["id"])
    assert stored["state"] in ("responded", "resumed")
    assert stored["response"] == {"decision": "approve", "comment": "ok"}
    assert stored["responded_by"] == "ann"

    shown = await ann.get(f"/requests/{request['id']}")
    text = text_of(shown.text)
    assert "ann answered at" in text
    assert "/answer" not in shown.text  # no answer form once answered (a comment form, yes)

    again = await ann.post(
        f"/requests/{request['id']}/answer", data={"_csrf": csrf, "decision": "reject"}
    )
    assert again.status_code == 409
    text = text_of(again.text)
    assert "This request was already answered." in text
    assert "ann answered it" in text
    assert (await request_state(client, request["id"]))["response"]["decision"] == "approve"

    thread = await settle(client, request["thread_id"])
    assert thread["values"]["review"]["decision"] == "approve"


async def test_answer_without_schema_uses_the_json_editor(client: httpx.AsyncClient) -> None:
    thread_id = await start(client, "parallel", {})
    await settle(client, thread_id)
    left = next(r for r in await pending(client, thread_id) if r["response_schema"] is None)
    page = (await client.get(f"/requests/{left['id']}")).text
    assert "data-json-form" in page
    assert control(page, "_hitl_json").startswith("<textarea")

    bad = await client.post(f"/requests/{left['id']}/answer", data={"_hitl_json": '{"a": '})
    assert bad.status_code == 422
    assert "not valid JSON" in bad.text
    assert "{&#34;a&#34;: </textarea>" in bad.text
    ok = await client.post(f"/requests/{left['id']}/answer", data={"_hitl_json": '{"a": [1, 2]}'})
    assert ok.status_code == 303
    assert (await request_state(client, left["id"]))["response"] == {"a": [1, 2]}


async def test_values_from_agents_are_escaped(client: httpx.AsyncClient, service: Service) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    request_id = await insert_request(
        service,
        client,
        {"title": evil, "description": f"**bold** {evil}", "nested": {"k": evil}},
        {"type": "object", "properties": {"x": {"type": "string", "title": evil}}},
    )
    for url in ("/", f"/requests/{request_id}"):
        page = (await client.get(url)).text
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    page = (await client.get(f"/requests/{request_id}")).text
    assert "<strong>bold</strong>" in page  # Markdown is rendered, its HTML is not


async def test_middleware_request_is_answered_with_its_decisions(
    client: httpx.AsyncClient,
) -> None:
    thread_id = await start(
        client,
        "refund_agent",
        {"messages": [{"type": "human", "content": "refund 120 EUR on order A-1001"}]},
    )
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    page = (await client.get(f"/requests/{request['id']}")).text
    text = text_of(page)
    assert "issue_refund" in text
    for decision in ("approve", "edit", "reject"):
        assert f'name="card.0.type" value="{decision}"' in page
    assert 'name="card.0.type" value="respond"' not in page
    assert 'value="120.0"' in control(page, "card.0.args.amount")

    missing = await client.post(f"/requests/{request['id']}/answer", data={})
    assert missing.status_code == 422
    assert "choose a decision" in missing.text

    r = await client.post(
        f"/requests/{request['id']}/answer",
        data={
            "card.0.type": "edit",
            "card.0.args.order_id": "A-1001",
            "card.0.args.amount": "100",
            "card.0.message": "",
        },
    )
    assert r.status_code == 303, r.text
    stored = await request_state(client, request["id"])
    assert stored["response"] == {
        "decisions": [
            {
                "type": "edit",
                "edited_action": {
                    "name": "issue_refund",
                    "args": {"order_id": "A-1001", "amount": 100},
                },
            }
        ]
    }
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed", thread
    assert "Refunded 100.00 EUR on order A-1001" in json.dumps(thread["values"])


async def test_per_call_tool_approval_gets_the_same_card(client: httpx.AsyncClient) -> None:
    thread_id = await start(
        client,
        "refund_agent_per_call",
        {"messages": [{"type": "human", "content": "refund 120 EUR on order A-1001"}]},
    )
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    assert request["value"]["type"] == "tool_approval"
    assert request["response_schema"]["discriminator"]["propertyName"] == "type"
    page = (await client.get(f"/requests/{request['id']}")).text
    assert "Tool call review" in text_of(page)
    for decision in ("approve", "edit", "reject"):
        assert f'name="card.0.type" value="{decision}"' in page
    assert 'name="card.0.type" value="respond"' not in page
    assert 'value="120.0"' in control(page, "card.0.args.amount")

    # an edit the tool's argument schema refuses: the error at the argument, nothing stored
    bad = await client.post(
        f"/requests/{request['id']}/answer",
        data={"card.0.type": "edit", "card.0.args.order_id": "A-1001", "card.0.args.amount": "x"},
    )
    assert bad.status_code == 422
    assert "&#39;x&#39; is not of type &#39;number&#39;" in bad.text
    r = await respond(client, request["id"], {"type": "respond", "message": "no"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "response", "type"],
            "msg": "must be one of: approve, edit, reject",
            "type": "discriminator",
        }
    ]
    assert (await request_state(client, request["id"]))["state"] == "pending"

    r = await client.post(
        f"/requests/{request['id']}/answer",
        data={"card.0.type": "edit", "card.0.args.order_id": "A-1001", "card.0.args.amount": "90"},
    )
    assert r.status_code == 303, r.text
    stored = await request_state(client, request["id"])
    assert stored["response"] == {
        "type": "edit",
        "edited_action": {"name": "issue_refund", "args": {"order_id": "A-1001", "amount": 90}},
    }
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed", thread
    assert "Refunded 90.00 EUR on order A-1001" in json.dumps(thread["values"])


async def test_missing_request_and_thread_pages(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/requests/{uuid.uuid4()}")
    assert r.status_code == 404
    assert "Not found" in r.text
    assert (await client.get("/requests/nope")).status_code == 404
    assert (await client.get("/threads/nope")).status_code == 404
    assert (await client.post("/requests/nope/answer", data={})).status_code == 404


async def test_threads_pages(client: httpx.AsyncClient) -> None:
    request = await review_request(client)
    done = await start(client, "approval", {})
    await settle(client, done)
    [approval] = await pending(client, done)
    assert (await respond(client, approval["id"], {"decision": "approve"})).status_code == 200
    await settle(client, done)

    listing = await client.get("/threads")
    assert listing.status_code == 200
    assert f'href="/threads/{request["thread_id"]}"' in listing.text
    assert f'href="/threads/{done}"' in listing.text
    interrupted = await client.get("/threads", params={"status": "interrupted"})
    assert f'href="/threads/{done}"' not in interrupted.text
    by_graph = await client.get("/threads", params={"graph": "approval"})
    assert f'href="/threads/{request["thread_id"]}"' not in by_graph.text

    page = await client.get(f"/threads/{request['thread_id']}")
    assert page.status_code == 200
    # the page is headed by the title the list shows, not by the thread's UUID
    listed = re.search(
        rf'class="req-link" href="/threads/{request["thread_id"]}">([^<]+)</a>', listing.text
    )
    assert listed, listing.text
    assert f"<h1>{listed.group(1)}</h1>" in page.text
    assert f'href="/requests/{request["id"]}"' in page.text
    assert "Waiting for people" in page.text
    assert "risk_score" in page.text  # the values, as a tree

    finished = text_of((await client.get(f"/threads/{done}")).text)
    assert "completed" in finished
    assert "answered" in finished


async def test_inbox_counts_are_capped_and_index_backed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A huge history does not slow the inbox: counts stop at 1,000 ("1,000+")."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO hitl_threads (thread_id, graph, status) VALUES ('t', 'g', 'completed')"
        )
        conn.execute(
            "INSERT INTO hitl_requests (thread_id, interrupt_id, graph, state)"
            " SELECT 't', i::text, 'g', 'resumed' FROM generate_series(1, 1005) i"
        )
    r = await client.get("/", params={"state": "resumed"})
    assert r.status_code == 200
    assert "1,000+" in r.text


async def test_bulk_approve_answers_each_selected_request(client: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(3):
        thread_id = await start(client, "approval", {})
        await settle(client, thread_id)
        [request] = await pending(client, thread_id)
        ids.append(request["id"])
    # someone answers one of them first: it is skipped, not an error
    await client.post(
        f"/api/v1/requests/{ids[0]}/respond", json={"response": {"decision": "reject"}}
    )
    page = await client.get("/", params={"state": "pending", "graph": "approval"})
    assert 'form="bulk-form"' in page.text and "Approve selected" in page.text

    r = await client.post(
        "/bulk",
        data={"ids": ids, "decision": "approve", "comment": "batch", "graph": "approval"},
    )
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "2 requests answered" in page.text and "1 skipped (already answered" in page.text
    states = [(await client.get(f"/api/v1/requests/{i}")).json() for i in ids]
    assert [s["response"] for s in states] == [
        {"decision": "reject"},
        {"decision": "approve", "comment": "batch"},
        {"decision": "approve", "comment": "batch"},
    ]
    assert states[1]["responded_by"] == "key:tests"


async def test_bulk_refuses_requests_asking_different_questions(client: httpx.AsyncClient) -> None:
    a = await start(client, "approval", {})
    b = await start(client, "parallel", {})
    await settle(client, a)
    await settle(client, b)
    ids = [r["id"] for t in (a, b) for r in await pending(client, t)]
    r = await client.post("/bulk", data={"ids": ids, "decision": "approve"})
    page = await client.get(r.headers["location"])
    assert "Nothing answered" in page.text
    still = [r for t in (a, b) for r in await pending(client, t)]
    assert len(still) == 3  # nothing was answered


async def test_inbox_text_search(client: httpx.AsyncClient) -> None:
    from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF

    risky = await start(client, "code_review", {"diff": HIGH_RISK_DIFF, "title": "Drop users"})
    calm = await start(client, "code_review", {"diff": LOW_RISK_DIFF, "title": "Fix 100% typo"})
    await settle(client, risky)
    await settle(client, calm)
    page = await client.get("/", params={"q": "drop users"})
    assert "Drop users" in page.text and "Fix 100% typo" not in page.text
    page = await client.get("/", params={"q": "100%"})  # % is matched literally
    assert "Fix 100% typo" in page.text and "Drop users" not in page.text
    page = await client.get("/", params={"q": "no such words"})
    assert "No requests match" in page.text


# -- what each caller sees ------------------------------------------------------------------------


async def test_delivery_details_are_for_webhook_admins(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], service: Service
) -> None:
    request = await review_request(client)
    error = "connection refused: 10.20.30.40:8080"
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO hitl_webhook_endpoints (url, secret) "
            "VALUES ('http://10.20.30.40:8080/hook', 'whsec_dGVzdHM=') RETURNING id"
        )
        endpoint = await cur.fetchone()
        assert endpoint is not None
        cur = await conn.execute(
            "INSERT INTO hitl_webhook_deliveries (endpoint_id, event_type, request_id, body, "
            "state, attempts, last_status, last_error, next_attempt_at) "
            "VALUES (%s, 'request.created', %s, '{}', 'failed', 5, 502, %s, "
            "now() + interval '1 day') RETURNING id",
            (endpoint["id"], request["id"], error),
        )
        delivery = await cur.fetchone()
        assert delivery is not None
    delivery_id = str(delivery["id"])

    admin = await client.get(f"/requests/{request['id']}")  # a key with every scope
    assert error in admin.text and delivery_id in admin.text and "Redeliver" in admin.text

    password = await auth.make_user(client, "vi", role="viewer")
    viewer = client_for()
    await auth.sign_in(viewer, "vi", password)
    reader = client_for(await auth.make_key(client, "requests:read", name="reader"))
    for who in (viewer, reader):
        page = await who.get(f"/requests/{request['id']}")
        assert page.status_code == 200
        deliveries = text_of(page.text.split('id="deliveries"')[1].split("</section>")[0])
        assert "request.created" in deliveries and "failed" in deliveries
        assert "10.20.30.40" not in page.text and "502" not in deliveries
        assert delivery_id not in page.text and "Redeliver" not in page.text
    api = await reader.get(f"/api/v1/requests/{request['id']}/deliveries")
    assert api.status_code == 403  # the same at the API's door


async def test_the_thread_page_lists_past_requests_only_to_readers_of_requests(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    done, waiting = await start(client, "approval", {}), await start(client, "approval", {})
    await settle(client, done)
    await settle(client, waiting)
    [answered] = await pending(client, done)
    [asking] = await pending(client, waiting)
    assert (await respond(client, answered["id"], {"decision": "approve"})).status_code == 200
    await settle(client, done)

    threads_only = client_for(await auth.make_key(client, "threads:read", name="threads"))
    page = await threads_only.get(f"/threads/{waiting}")
    assert page.status_code == 200
    assert f"/requests/{asking['id']}" in page.text  # pending, as in GET /api/v1/threads/{id}
    page = await threads_only.get(f"/threads/{done}")
    assert page.status_code == 200 and f"/requests/{answered['id']}" not in page.text
    full = await client.get(f"/threads/{done}")
    assert f"/requests/{answered['id']}" in full.text


async def test_static_files_are_public_and_stay_in_their_folder(
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    nobody = client_for()
    css = await nobody.get("/ui/static/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    cached = await nobody.get("/ui/static/ui.css", headers={"If-None-Match": css.headers["etag"]})
    assert cached.status_code == 304
    assert (await nobody.head("/ui/static/ui.js")).status_code == 200
    for path in ("/ui/static/%2e%2e/routes.py", "/ui/static/..%2Froutes.py", "/ui/static/"):
        r = await nobody.get(path)
        assert r.status_code == 404 and "import" not in r.text, path


async def test_every_page_has_an_icon_that_exists(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    nobody = client_for()
    for who, path in ((nobody, "/login"), (client, "/"), (client, "/threads")):
        page = await who.get(path)
        assert '<link rel="icon" href="/ui/static/favicon.svg"' in page.text, path
    for path in ("/ui/static/favicon.svg", "/favicon.ico"):  # the latter: pages naming none
        icon = await nobody.get(path)
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert icon.text.startswith("<svg")


async def test_pages_offer_only_what_the_viewer_may_do(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    viewer, responder = client_for(), client_for()
    await auth.sign_in(viewer, "vi", await auth.make_user(client, "vi", role="viewer"))
    await auth.sign_in(responder, "re", await auth.make_user(client, "re", role="responder"))

    seen = await viewer.get("/")
    assert f'href="/requests/{request["id"]}"' in seen.text
    assert 'action="/bulk"' not in seen.text and 'name="ids"' not in seen.text
    picked = await responder.get("/")
    assert 'action="/bulk"' in picked.text and f'value="{request["id"]}"' in picked.text

    auditor = client_for(await auth.make_key(client, "audit:read", name="auditor"))
    log = await auditor.get("/admin/audit")
    assert log.status_code == 200 and 'href="/admin/audit"' in log.text
    assert 'href="/"' not in log.text.replace('class="brand" href="/"', "")
    assert 'href="/threads"' not in log.text and 'href="/admin/users"' not in log.text


async def test_a_form_shows_the_request_only_to_who_may_read_it(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    request = await review_request(client)
    url = f"/requests/{request['id']}"
    answerer = client_for(await auth.make_key(client, "requests:answer", name="answers"))
    wrong = await answerer.post(f"{url}/answer", data={"decision": "maybe"})
    assert wrong.status_code == 422 and "Not done" in wrong.text
    assert "mallory" not in wrong.text and "0007_drop_users" not in wrong.text
    assigner = client_for(await auth.make_key(client, "requests:write", name="assigns"))
    unknown = await assigner.post(f"{url}/assign", data={"assignees": "zed"})
    assert unknown.status_code == 422 and "no user &#39;zed&#39;" in unknown.text
    assert "mallory" not in unknown.text and "0007_drop_users" not in unknown.text
    assert (await answerer.get(url)).status_code == 403

    ok = await answerer.post(f"{url}/answer", data={"decision": "approve"})
    assert ok.status_code == 303
    late = await answerer.post(f"{url}/answer", data={"decision": "approve"})
    assert late.status_code == 409 and ", not pending" in late.text
    assert "mallory" not in late.text
    full = await client.post(f"{url}/answer", data={"decision": "reject"})
    assert full.status_code == 409 and "mallory" in full.text  # a reader sees the request


async def test_requests_say_what_they_ask_and_threads_what_they_are_about(
    client: httpx.AsyncClient,
) -> None:
    """The review and the deploy approval of one change share its title: each says which it
    is, the deploy approval shows its tests as a card, and the Threads list shows the change,
    what it waits for and how it ended instead of bare ids."""
    review = await review_request(client)
    thread_id = review["thread_id"]
    inbox = text_of((await client.get("/")).text)
    assert f"Code review {review['value']['title']}" in inbox

    assert (await respond(client, review["id"], {"decision": "approve"})).status_code == 200
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [deploy] = await pending(client, thread_id)
    assert deploy["value"]["kind"] == "deploy_approval"

    page = await client.get(f"/requests/{deploy['id']}")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert f"Deploy approval {deploy['value']['title']}" in shown  # the heading
    assert "Tests passed the built-in diff check" in shown
    assert "Deploy this change to production?" in shown
    assert "<dt>tests</dt>" not in page.text  # a card, not the raw tree
    timeline = shown.split("Thread", 1)[-1]
    assert "Code review" in timeline and "Deploy approval" in timeline

    listing = await client.get("/threads")
    row = listing.text.split(f'data-thread-id="{thread_id}"', 1)[1].split("</tr>", 1)[0]
    assert f">{html.escape(review['value']['title'])}</a>" in row
    assert "waiting for" in text_of(row) and deploy["value"]["title"] in text_of(row)

    answer = {"decision": "reject", "comment": "not today"}
    assert (await respond(client, deploy["id"], answer)).status_code == 200
    assert (await settle(client, thread_id))["status"] == "completed"
    listing = await client.get("/threads")
    row = listing.text.split(f'data-thread-id="{thread_id}"', 1)[1].split("</tr>", 1)[0]
    assert "outcome rejected" in text_of(row)
