"""Who may do what: each role, an API key's scopes and an unauthenticated caller against every
route (read and write), assignment, CSRF, sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hitl.service import Service
from tests.support import auth
from tests.support.api import pending, settle, start

ROLES = ("anonymous", "viewer", "responder", "admin")
OK = (200, 201, 202, 204, 422)  # 422: allowed in, then the (deliberately bad) body refused

# (method, path, body, the status each of ROLES gets). {thread}, {request} are filled in.
API = [
    ("GET", "/api/v1/me", None, (401, 200, 200, 200)),
    ("GET", "/api/v1/graphs", None, (401, 200, 200, 200)),
    ("GET", "/api/v1/threads", None, (401, 200, 200, 200)),
    ("GET", "/api/v1/threads/{thread}", None, (401, 200, 200, 200)),
    ("GET", "/api/v1/threads/{thread}/wait?timeout=0", None, (401, 200, 200, 200)),
    ("POST", "/api/v1/threads", {"graph": "approval", "input": {}}, (401, 403, 403, 202)),
    ("POST", "/api/v1/threads/{thread}/resume", {"resume": {}}, (401, 403, 422, 422)),
    ("GET", "/api/v1/requests", None, (401, 200, 200, 200)),
    ("GET", "/api/v1/requests/{request}", None, (401, 200, 200, 200)),
    ("POST", "/api/v1/requests/{request}/respond", {"response": {}}, (401, 403, 422, 422)),
    ("POST", "/api/v1/requests", {}, (401, 403, 403, 422)),
    ("GET", "/api/v1/requests/{request}/deliveries", None, (401, 403, 403, 200)),
    ("GET", "/api/v1/webhooks", None, (401, 403, 403, 200)),
    ("POST", "/api/v1/webhooks", {}, (401, 403, 403, 422)),
    ("GET", "/api/v1/status", None, (401, 403, 403, 200)),
    ("GET", "/api/v1/users", None, (401, 403, 403, 200)),
    ("POST", "/api/v1/users", {}, (401, 403, 403, 422)),
    ("GET", "/api/v1/apikeys", None, (401, 403, 403, 200)),
    ("POST", "/api/v1/apikeys", {}, (401, 403, 403, 422)),
    ("GET", "/api/v1/audit", None, (401, 403, 403, 200)),
    ("PATCH", "/api/v1/me/preferences", {"email": False}, (401, 200, 200, 200)),
    ("GET", "/healthz", None, (200, 200, 200, 200)),
    ("GET", "/readyz", None, (200, 200, 200, 200)),
    ("GET", "/metrics", None, (200, 200, 200, 200)),
]

# UI pages: without a session, a page sends the browser to the login page.
UI = [
    ("GET", "/", (303, 200, 200, 200)),
    ("GET", "/?fragment=live", (401, 200, 200, 200)),
    ("GET", "/requests/{request}", (303, 200, 200, 200)),
    ("GET", "/threads", (303, 200, 200, 200)),
    ("GET", "/threads/{thread}", (303, 200, 200, 200)),
    ("GET", "/status", (303, 403, 403, 200)),
    ("GET", "/admin/users", (303, 403, 403, 200)),
    ("GET", "/admin/keys", (303, 403, 403, 200)),
    ("GET", "/admin/audit", (303, 403, 403, 200)),
    ("POST", "/requests/{request}/answer", (303, 403, 422, 422)),
]


@pytest.fixture
async def people(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> dict[str, tuple[httpx.AsyncClient, str | None]]:
    """A signed-in browser session per role (with its CSRF token), and nobody."""
    found: dict[str, tuple[httpx.AsyncClient, str | None]] = {"anonymous": (client_for(), None)}
    for role in ("viewer", "responder", "admin"):
        password = await auth.make_user(client, f"{role}-1", role=role)
        session = client_for()
        found[role] = (session, await auth.sign_in(session, f"{role}-1", password))
    return found


async def interrupted(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    return thread_id, request


async def test_each_role_against_each_api_route(
    client: httpx.AsyncClient, people: dict[str, tuple[httpx.AsyncClient, str | None]]
) -> None:
    thread_id, request = await interrupted(client)
    problems = []
    for method, path, body, expected in API:
        url = path.format(thread=thread_id, request=request["id"])
        for role, want in zip(ROLES, expected, strict=True):
            session, csrf = people[role]
            headers = {"X-CSRF-Token": csrf} if csrf else {}
            r = await session.request(method, url, json=body, headers=headers)
            if r.status_code != want:
                problems.append(f"{role} {method} {url}: {r.status_code} (want {want}) {r.text}")
            if r.status_code in (401, 403):
                assert r.json()["detail"], r.text  # says why
    assert problems == []
    # nothing the refused calls asked for happened: the request still waits
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"


async def test_each_role_against_each_ui_page(
    client: httpx.AsyncClient, people: dict[str, tuple[httpx.AsyncClient, str | None]]
) -> None:
    thread_id, request = await interrupted(client)
    problems = []
    for method, path, expected in UI:
        url = path.format(thread=thread_id, request=request["id"])
        for role, want in zip(ROLES, expected, strict=True):
            session, csrf = people[role]
            data = {"_csrf": csrf} if method == "POST" and csrf else None
            r = await session.request(method, url, data=data)
            if r.status_code != want:
                problems.append(f"{role} {method} {url}: {r.status_code} (want {want})")
            if want == 303 and role == "anonymous":
                assert r.headers["location"].startswith("/login?next=")
    assert problems == []
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"


async def test_api_key_scopes_revocation_and_last_use(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], service: Service
) -> None:
    reader = client_for(await auth.make_key(client, "threads:read", name="reader"))
    writer = client_for(await auth.make_key(client, "threads:write", "threads:read", name="w"))
    assert (await reader.get("/api/v1/threads")).status_code == 200
    refused = await reader.post("/api/v1/threads", json={"graph": "approval", "input": {}})
    assert refused.status_code == 403
    assert "threads:write" in refused.json()["detail"]
    assert (await reader.get("/api/v1/requests")).status_code == 403  # no requests:read
    assert (await client.get("/api/v1/threads")).json()["items"] == []  # nothing was started
    created = await writer.post("/api/v1/threads", json={"graph": "approval", "input": {}})
    assert created.status_code == 202

    [listed] = [k for k in (await client.get("/api/v1/apikeys")).json() if k["name"] == "reader"]
    assert listed["prefix"].startswith("hitl_") and "key" not in listed
    assert listed["last_used_at"] is not None
    assert (await client.delete(f"/api/v1/apikeys/{listed['prefix']}")).status_code == 204
    gone = await reader.get("/api/v1/threads")
    assert gone.status_code == 401 and gone.headers["www-authenticate"] == "Bearer"
    wrong = client_for("hitl_nothere_" + "x" * 40)
    assert (await wrong.get("/api/v1/threads")).status_code == 401

    async with service.pool.connection() as conn:
        cur = await conn.execute("SELECT key_hash FROM hitl_api_keys WHERE name = 'reader'")
        row = await cur.fetchone()
    assert row is not None and len(row["key_hash"]) == 32  # a SHA-256, never the key


async def test_scopes_must_be_known(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/apikeys", json={"name": "x", "scopes": ["threads:rule"]})
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body", "scopes"] and "threads:rule" in problem["msg"]
    assert [k["name"] for k in (await client.get("/api/v1/apikeys")).json()] == ["tests"]


async def test_only_assignees_group_members_and_admins_answer(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], service: Service
) -> None:
    _, request = await interrupted(client)
    async with service.pool.connection() as conn:
        await conn.execute(
            "UPDATE hitl_requests SET assignees = '{ann}', assigned_groups = '{ops}' WHERE id = %s",
            (request["id"],),
        )
    sessions = {}
    for name, extra in (("ann", {}), ("bob", {}), ("cy", {"groups": ["ops"]})):
        password = await auth.make_user(client, name, **extra)
        sessions[name] = client_for()
        sessions[name].headers["X-CSRF-Token"] = await auth.sign_in(sessions[name], name, password)
    url = f"/api/v1/requests/{request['id']}/respond"
    bob = await sessions["bob"].post(url, json={"response": {"decision": "approve"}})
    assert bob.status_code == 403 and "assigned to others" in bob.json()["detail"]
    page = await sessions["bob"].get(f"/requests/{request['id']}")
    assert "only they and admins can answer it" in page.text
    assert 'action="/requests/' not in page.text  # no answer form for bob
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"
    # a member of an assigned group may answer
    cy = await sessions["cy"].post(url, json={"response": {"decision": "approve"}})
    assert cy.status_code == 200 and cy.json()["responded_by"] == "cy"


async def test_a_session_call_without_the_csrf_token_changes_nothing(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    _, request = await interrupted(client)
    password = await auth.make_user(client, "ann")
    ann = client_for()
    csrf = await auth.sign_in(ann, "ann", password)

    answer = {"decision": "approve"}
    forged = await ann.post(f"/api/v1/requests/{request['id']}/respond", json={"response": answer})
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    form = await ann.post(f"/requests/{request['id']}/answer", data={"decision": "approve"})
    assert form.status_code == 403 and "security token" in form.text
    stale = await ann.post(
        f"/requests/{request['id']}/answer", data={"decision": "approve", "_csrf": "old"}
    )
    assert stale.status_code == 403
    bulk = await ann.post("/bulk", data={"ids": [request["id"]], "decision": "approve"})
    assert bulk.status_code == 403
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"

    ok = await ann.post(
        f"/requests/{request['id']}/answer", data={"decision": "approve", "_csrf": csrf}
    )
    assert ok.status_code == 303
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["responded_by"] == "ann"


async def test_sign_in_failures_sign_out_and_disabling_are_audited(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    password = await auth.make_user(client, "ann")
    stranger = client_for()
    await stranger.get("/login")
    token = stranger.cookies.get("hitl_login_csrf")
    wrong = await stranger.post(
        "/login", data={"username": "ann", "password": "nope-nope", "_csrf": token}
    )
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    assert "hitl_session" not in stranger.cookies
    token = stranger.cookies.get("hitl_login_csrf")  # each form has a token of its own
    nobody = await stranger.post(
        "/login", data={"username": "zed", "password": "nope-nope", "_csrf": token}
    )
    assert nobody.status_code == 401  # the same answer for an unknown name
    no_token = await stranger.post("/login", data={"username": "ann", "password": password})
    assert no_token.status_code == 400 and "hitl_session" not in stranger.cookies

    ann = client_for()
    csrf = await auth.sign_in(ann, "ann", password)
    cookie = ann.cookies.get("hitl_session")
    assert cookie
    assert (await ann.post("/logout", data={"_csrf": csrf})).status_code == 303
    replay = client_for()
    replay.cookies.set("hitl_session", cookie)
    assert (await replay.get("/api/v1/me")).status_code == 401  # the session ended server-side

    csrf = await auth.sign_in(ann, "ann", password)
    assert (await client.patch("/api/v1/users/ann", json={"disabled": True})).status_code == 200
    assert (await ann.get("/api/v1/me")).status_code == 401  # disabling ends sessions
    again = client_for()
    await again.get("/login")
    blocked = await again.post(
        "/login",
        data={"username": "ann", "password": password, "_csrf": again.cookies["hitl_login_csrf"]},
    )
    assert blocked.status_code == 401

    log = (await client.get("/api/v1/audit", params={"subject": "user:ann"})).json()["items"]
    actions = [e["action"] for e in reversed(log)]
    assert actions == [
        "user.create",
        "login.failed",
        "login",
        "logout",
        "login",
        "user.disable",
        "login.failed",
    ]
    failed = next(e for e in log if e["action"] == "login.failed")
    assert failed["actor"] == "anonymous" and "password" not in failed["data"]


async def test_audit_log_records_answers_keys_and_webhook_changes(
    client: httpx.AsyncClient,
) -> None:
    _, request = await interrupted(client)
    await client.post(
        f"/api/v1/requests/{request['id']}/respond", json={"response": {"decision": "approve"}}
    )
    key = await client.post("/api/v1/apikeys", json={"name": "bot", "scopes": ["*"]})
    prefix = key.json()["prefix"]
    await client.delete(f"/api/v1/apikeys/{prefix}")
    endpoint = await client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.com/x", "events": []}
    )
    assert endpoint.status_code == 201, endpoint.text
    await client.post(f"/api/v1/webhooks/{endpoint.json()['id']}/rotate-secret")

    by_me = (await client.get("/api/v1/audit", params={"actor": "key:tests"})).json()["items"]
    actions = {e["action"] for e in by_me}
    assert {"request.respond", "apikey.create", "apikey.revoke", "webhook.create"} <= actions
    assert "webhook.rotate_secret" in actions
    for entry in by_me:  # no secret or key in the log
        assert key.json()["key"] not in str(entry["data"])
        assert endpoint.json()["secret"] not in str(entry["data"])
    about = (await client.get("/api/v1/audit", params={"request_id": request["id"]})).json()
    assert "request.respond" in [e["action"] for e in about["items"]]
    page = await client.get("/api/v1/audit", params={"actor": "key:tests", "limit": 2})
    assert len(page.json()["items"]) == 2 and page.json()["next_cursor"]
    html = await client.get("/admin/audit", params={"actor": "key:tests"})
    assert html.status_code == 200 and "apikey.revoke" in html.text


async def test_a_person_sets_their_email_preference_and_password(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    password = await auth.make_user(client, "ann", email="ann@example.com")
    ann, other = client_for(), client_for()
    csrf = await auth.sign_in(ann, "ann", password)
    await auth.sign_in(other, "ann", password)  # a second session, elsewhere
    page = await ann.get("/account")
    assert page.status_code == 200 and "ann@example.com" in page.text

    r = await ann.post("/account/preferences", data={"_csrf": csrf})  # the box unticked
    assert r.status_code == 303
    [me] = [u for u in (await client.get("/api/v1/users")).json() if u["username"] == "ann"]
    assert me["preferences"] == {"email": False}

    wrong = await ann.post(
        "/account/password", data={"_csrf": csrf, "current": "nope", "new": "n3w-password"}
    )
    assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    short = await ann.post(
        "/account/password", data={"_csrf": csrf, "current": password, "new": "short"}
    )
    assert short.status_code == 422 and "at least 8 characters" in short.text
    ok = await ann.post(
        "/account/password", data={"_csrf": csrf, "current": password, "new": "n3w-password"}
    )
    assert ok.status_code == 303
    assert (await ann.get("/api/v1/me")).status_code == 200  # this session goes on
    assert (await other.get("/api/v1/me")).status_code == 401  # the other one ended
    fresh = client_for()
    await auth.sign_in(fresh, "ann", "n3w-password")


async def test_assigned_to_me_in_the_inbox(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], service: Service
) -> None:
    _, mine = await interrupted(client)
    _, theirs = await interrupted(client)
    _, group = await interrupted(client)
    password = await auth.make_user(client, "ann", groups=["ops"])
    async with service.pool.connection() as conn:
        await conn.execute(
            "UPDATE hitl_requests SET assignees = '{ann}' WHERE id = %s", (mine["id"],)
        )
        await conn.execute(
            "UPDATE hitl_requests SET assignees = '{bob}' WHERE id = %s", (theirs["id"],)
        )
        await conn.execute(
            "UPDATE hitl_requests SET assigned_groups = '{ops}' WHERE id = %s", (group["id"],)
        )
    ann = client_for()
    await auth.sign_in(ann, "ann", password)
    inbox = await ann.get("/")
    assert "/?state=pending&amp;assigned_to=ann" in inbox.text  # the "Assigned to me" link
    page = (await ann.get("/", params={"state": "pending", "assigned_to": "ann"})).text
    assert mine["id"] in page and group["id"] in page and theirs["id"] not in page
