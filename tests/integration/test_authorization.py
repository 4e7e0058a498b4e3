"""Who may do what: every route of the app against every kind of caller (the authorization
matrix), API keys' scopes, assignment, CSRF, sessions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastapi.routing
import httpx
import pytest

from hitl.api import deps
from hitl.auth import SCOPES
from hitl.service import Service
from tests.support import auth
from tests.support.api import pending, settle, start


@dataclass(frozen=True)
class Call:
    """What a route needs (`deps.Permission.need`), and how the matrix calls it: with a body
    that is deliberately wrong, or an id that names nothing, wherever the call would change
    something, so that whoever is let in gets an answer from the route itself (often a 4xx)
    and the walk changes nothing."""

    need: str
    query: str = ""
    json: Any = None
    form: dict[str, str] | None = None
    # path ids of this call's own (an id that names nothing, where the usual one would be
    # changed: the interrupted thread must not be deleted)
    ids: dict[str, str] | None = None
    # the route answers 501 by design: a feature the Agent Server has and the service does not
    unsupported: bool = False


NOTHING = "00000000-0000-4000-8000-000000000000"

# Every route of the app. A route added without an entry here fails the test.
ROUTES: dict[str, Call] = {
    # the API
    "POST /api/v1/threads": Call("threads:write", json={}),
    "GET /api/v1/threads": Call("threads:read"),
    "GET /api/v1/threads/{thread_id}": Call("threads:read"),
    "GET /api/v1/threads/{thread_id}/wait": Call("threads:read", query="timeout=0"),
    "POST /api/v1/threads/{thread_id}/resume": Call("requests:answer", json={"resume": {}}),
    "GET /api/v1/graphs": Call("threads:read"),
    "GET /api/v1/requests": Call("requests:read"),
    "POST /api/v1/requests": Call("requests:write", json={}),
    "GET /api/v1/requests/{request_id}": Call("requests:read"),
    "POST /mcp": Call("requests:write", json={}),
    # only the creator (or an admin) follows a request: the matrix names none (404 to all)
    "GET /api/v1/requests/{request_id}/wait": Call(
        "requests:write", query="timeout=0", ids={"request_id": NOTHING}
    ),
    "DELETE /api/v1/requests/{request_id}": Call("requests:write", ids={"request_id": NOTHING}),
    "POST /api/v1/requests/{request_id}/respond": Call("requests:answer", json={"response": {}}),
    "POST /api/v1/requests/{request_id}/assign": Call("requests:write", json={"assignees": "x"}),
    "POST /api/v1/requests/{request_id}/claim": Call(
        "requests:answer", ids={"request_id": NOTHING}
    ),
    "POST /api/v1/requests/{request_id}/unclaim": Call(
        "requests:answer", ids={"request_id": NOTHING}
    ),
    "GET /api/v1/requests/{request_id}/comments": Call("requests:read"),
    "GET /api/v1/requests/{request_id}/votes": Call("requests:read"),
    "POST /api/v1/requests/{request_id}/comments": Call("requests:answer", json={"body": ""}),
    "POST /api/v1/requests/{request_id}/send-back": Call("requests:answer", json={"note": ""}),
    "GET /api/v1/requests/{request_id}/deliveries": Call("webhooks:admin"),
    "POST /api/v1/webhooks": Call("webhooks:admin", json={}),
    "GET /api/v1/webhooks": Call("webhooks:admin"),
    "GET /api/v1/webhooks/{endpoint_id}": Call("webhooks:admin"),
    "PATCH /api/v1/webhooks/{endpoint_id}": Call("webhooks:admin", json={}),
    "DELETE /api/v1/webhooks/{endpoint_id}": Call("webhooks:admin"),
    "POST /api/v1/webhooks/{endpoint_id}/rotate-secret": Call("webhooks:admin"),
    "GET /api/v1/webhooks/{endpoint_id}/deliveries": Call("webhooks:admin"),
    "GET /api/v1/deliveries/{delivery_id}": Call("webhooks:admin"),
    "POST /api/v1/deliveries/{delivery_id}/redeliver": Call("webhooks:admin"),
    "GET /api/v1/me": Call("signed-in"),
    "PATCH /api/v1/me/preferences": Call("person", json={"email": False}),
    "GET /api/v1/me/delegation": Call("person"),
    "PUT /api/v1/me/delegation": Call("person", json={}),
    "DELETE /api/v1/me/delegation": Call("person"),
    "GET /api/v1/delegations": Call("admin"),
    "GET /api/v1/users/{username}/delegation": Call("admin"),
    "PUT /api/v1/users/{username}/delegation": Call("admin", json={}),
    "DELETE /api/v1/users/{username}/delegation": Call("admin"),
    "GET /api/v1/users": Call("admin"),
    "POST /api/v1/users": Call("admin", json={}),
    "PATCH /api/v1/users/{username}": Call("admin", json={}),
    "GET /api/v1/apikeys": Call("admin"),
    "POST /api/v1/apikeys": Call("admin", json={}),
    "DELETE /api/v1/apikeys/{prefix}": Call("admin"),
    "GET /api/v1/audit": Call("audit:read"),
    "GET /api/v1/status": Call("admin"),
    # the Agent Server door (hitl/agent_server): runs
    "POST /lg/threads/{thread_id}/runs": Call("threads:write", json={}),
    "POST /lg/threads/{thread_id}/runs/wait": Call("threads:write", json={}),
    "POST /lg/runs": Call("threads:write", json={}),
    "POST /lg/runs/wait": Call("threads:write", json={}),
    "GET /lg/threads/{thread_id}/runs": Call("threads:read"),
    "GET /lg/threads/{thread_id}/runs/{run_id}": Call("threads:read"),
    "GET /lg/threads/{thread_id}/runs/{run_id}/join": Call("threads:read"),
    "POST /lg/threads/{thread_id}/runs/{run_id}/cancel": Call("threads:write"),
    "DELETE /lg/threads/{thread_id}/runs/{run_id}": Call("threads:write"),
    "POST /lg/threads/{thread_id}/state": Call("threads:write", json={"values": 1}),
    "POST /lg/threads/{thread_id}/runs/stream": Call("threads:write", json={}),
    "POST /lg/runs/stream": Call("threads:write", json={}),
    "GET /lg/threads/{thread_id}/runs/{run_id}/stream": Call("threads:read"),
    "POST /lg/threads/{thread_id}/stream/events": Call("threads:read", json={"channels": []}),
    "POST /lg/threads/{thread_id}/commands": Call("threads:write", json={}),
    # (a mode it does not stream: a 422 rather than a stream that stays open)
    "GET /lg/threads/{thread_id}/stream": Call("threads:read", query="stream_mode=debug"),
    # for machines, and for reading about the API
    "GET /healthz": Call("public"),
    "GET /readyz": Call("public"),
    "GET /metrics": Call("public"),
    "GET /openapi.json": Call("public"),
    "GET /docs": Call("public"),
    "GET /docs/oauth2-redirect": Call("public"),
    "GET /docs/assets/{path:path}": Call("public"),
    "HEAD /docs/assets/{path:path}": Call("public"),
    "GET /redoc": Call("public"),
    # pages and forms
    "GET /login": Call("public"),
    "POST /login": Call("public", form={}),
    "POST /logout": Call("signed-in", form={}),
    "GET /": Call("requests:read"),
    "GET /requests/{request_id}": Call("requests:read"),
    "POST /requests/{request_id}/answer": Call("requests:answer", form={}),
    "POST /requests/{request_id}/assign": Call("requests:write", form={"groups": "a b"}),
    "POST /requests/{request_id}/claim": Call(
        "requests:answer", form={}, ids={"request_id": NOTHING}
    ),
    "POST /requests/{request_id}/unclaim": Call(
        "requests:answer", form={}, ids={"request_id": NOTHING}
    ),
    "POST /requests/{request_id}/comments": Call("requests:answer", form={"body": ""}),
    "POST /requests/{request_id}/deliveries/{delivery_id}/redeliver": Call(
        "webhooks:admin", form={}
    ),
    "POST /bulk": Call("requests:answer", form={}),
    # one-click answers from email: the token in the path is the proof (none is valid here)
    "GET /answer/{token}": Call("token"),
    # Slack app mode's button clicks and modal submissions: Slack's signature is the proof
    "POST /slack/interactivity": Call("signature", form={}),
    "POST /answer/{token}": Call("token", form={}),
    "GET /ui/events": Call("requests:read"),
    "GET /ui/threads/{thread_id}/progress": Call("threads:read"),
    "GET /threads": Call("threads:read"),
    "GET /threads/{thread_id}": Call("threads:read"),
    "GET /status": Call("admin"),
    "GET /admin/users": Call("admin"),
    "POST /admin/users": Call("admin", form={}),
    "POST /admin/users/{username}": Call("admin", form={}),
    "POST /admin/delegations": Call("admin", form={}),
    "GET /admin/keys": Call("admin"),
    "POST /admin/keys": Call("admin", form={}),
    "POST /admin/keys/{prefix}/revoke": Call("admin", form={}),
    "GET /admin/audit": Call("audit:read"),
    "GET /account": Call("person"),
    "POST /account/preferences": Call("person", form={}),
    "POST /account/password": Call("person", form={}),
    "GET /account/slack": Call("person", query="link=nothing"),
    "POST /account/slack/link": Call("person", form={"link": "nothing"}),
    "POST /account/slack/unlink": Call("person", form={}),
    "POST /account/delegation": Call("person", form={}),
    "GET /ui/static/{path:path}": Call("public"),
    "HEAD /ui/static/{path:path}": Call("public"),
    "GET /favicon.ico": Call("public"),
    # LangGraph's Agent Server API (hitl/agent_server)
    "GET /lg/info": Call("public"),
    "GET /lg/ok": Call("public"),
    "POST /lg/assistants/search": Call("threads:read", json={}),
    "POST /lg/assistants/count": Call("threads:read", json={}),
    "GET /lg/assistants/{assistant_id}": Call("threads:read"),
    "GET /lg/assistants/{assistant_id}/schemas": Call("threads:read"),
    "GET /lg/assistants/{assistant_id}/graph": Call("threads:read"),
    "GET /lg/assistants/{assistant_id}/subgraphs": Call("threads:read"),
    "GET /lg/assistants/{assistant_id}/subgraphs/{namespace}": Call("threads:read"),
    "POST /lg/threads": Call("threads:write", json={"metadata": "not an object"}),
    "POST /lg/threads/search": Call("threads:read", json={}),
    "POST /lg/threads/count": Call("threads:read", json={}),
    "GET /lg/threads/{thread_id}": Call("threads:read"),
    "PATCH /lg/threads/{thread_id}": Call("threads:write", json={"metadata": "not an object"}),
    "DELETE /lg/threads/{thread_id}": Call("threads:write", ids={"thread_id": NOTHING}),
    "GET /lg/threads/{thread_id}/state": Call("threads:read"),
    "POST /lg/threads/{thread_id}/state/checkpoint": Call("threads:read", json={"checkpoint": {}}),
    "GET /lg/threads/{thread_id}/state/{checkpoint_id}": Call("threads:read"),
    "POST /lg/threads/{thread_id}/history": Call("threads:read", json={}),
    **{
        route: Call("signed-in", json={}, unsupported=True)
        for route in (
            "POST /lg/assistants",
            "PATCH /lg/assistants/{assistant_id}",
            "DELETE /lg/assistants/{assistant_id}",
            "POST /lg/assistants/{assistant_id}/versions",
            "POST /lg/assistants/{assistant_id}/latest",
            "POST /lg/threads/prune",
            "POST /lg/threads/{thread_id}/copy",
            "GET /lg/threads/{thread_id}/storage",
            "POST /lg/threads/{thread_id}/runs/crons",
            "POST /lg/runs/crons",
            "POST /lg/runs/crons/search",
            "POST /lg/runs/crons/count",
            "GET /lg/runs/crons/{cron_id}",
            "PATCH /lg/runs/crons/{cron_id}",
            "DELETE /lg/runs/crons/{cron_id}",
            "POST /lg/runs/batch",
            "POST /lg/threads/{thread_id}/stream",
            "GET /lg/store/items",
            "PUT /lg/store/items",
            "DELETE /lg/store/items",
            "POST /lg/store/items/search",
            "POST /lg/store/namespaces",
        )
    },
}

# Routes whose caller proves itself with what it sends, and the refusal everyone gets without
# it: an answer link's token that names nothing (404), a Slack request with no signature (401).
PROOFS = {"token": 404, "signature": 401}

# The scopes of each role, written out here rather than read from the code under test.
ROLE_SCOPES = {
    "viewer": {"threads:read", "requests:read"},
    "responder": {"threads:read", "requests:read", "requests:answer"},
    "admin": {"*"},
}


@dataclass
class Caller:
    name: str
    kind: str  # "anonymous", "user" (a browser session) or "key"
    scopes: set[str]
    http: httpx.AsyncClient
    csrf: str | None = None

    def may(self, need: str) -> bool:
        if need == "public":
            return True
        if need in PROOFS:  # the route's own proof, which no caller of the walk holds
            return False
        if self.kind == "anonymous":
            return False
        if need == "signed-in":
            return True
        if need == "person":
            return self.kind == "user"
        return "*" in self.scopes or need in self.scopes


def app_routes(app: Any) -> dict[str, Any]:
    """``{"GET /path": route}`` for every route the app serves (included routers' routes with
    their prefixes and the routers' dependencies)."""
    # FastAPI 0.16x keeps included routers whole in app.routes; earlier ones list their routes
    each = getattr(fastapi.routing, "iter_route_contexts", list)
    found = {}
    for route in each(app.routes):
        for method in getattr(route, "methods", None) or ("?",):
            found[f"{method} {route.path}"] = route
    return found


async def interrupted(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    return thread_id, request


def test_every_route_has_an_entry_and_declares_its_permission(client: httpx.AsyncClient) -> None:
    routes = app_routes(client.app)  # type: ignore[attr-defined]
    assert sorted(set(routes) - set(ROUTES)) == []  # a new route needs an entry
    assert sorted(set(ROUTES) - set(routes)) == []  # an entry needs a route
    declared = {key: [p.need for p in deps.declared(route)] for key, route in routes.items()}
    assert {key: needs for key, needs in declared.items() if needs != [ROUTES[key].need]} == {}


@pytest.fixture
async def callers(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> list[Caller]:
    """Nobody; a browser session of each role, sending its CSRF token; an API key of each
    scope, and one of every scope."""
    found = [Caller("anonymous", "anonymous", set(), client_for())]
    for role, scopes in ROLE_SCOPES.items():
        password = await auth.make_user(client, f"{role}-1", role=role)
        session = client_for()
        csrf = await auth.sign_in(session, f"{role}-1", password)
        session.headers["X-CSRF-Token"] = csrf
        found.append(Caller(f"{role} session", "user", scopes, session, csrf))
    for scope in [*SCOPES, "*"]:
        key = await auth.make_key(client, scope, name=f"only-{scope}")
        found.append(Caller(f"key {scope}", "key", {scope}, client_for(key)))
    return found


def _refused(r: httpx.Response) -> bool:
    if r.status_code in (401, 403):
        return True
    return r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def _refusal_problem(caller: Caller, path: str, need: str, r: httpx.Response) -> str | None:
    """What is wrong with ``r`` as the refusal ``caller`` should get; None if nothing."""
    if need in PROOFS:
        return None if r.status_code == PROOFS[need] else f"{r.status_code} (want {PROOFS[need]})"
    if path.startswith(("/api/", "/lg/", "/mcp")):
        want = 401 if caller.kind == "anonymous" else 403
        if r.status_code != want or not r.json().get("detail"):
            return f"{r.status_code} (want {want}, saying why)"
    elif caller.kind == "anonymous":
        if path.startswith("/ui/"):  # a stream: no page to go back to after signing in
            return None if r.status_code == 401 else f"{r.status_code} (want 401)"
        if r.status_code != 303 or not r.headers["location"].startswith("/login?next="):
            return f"{r.status_code} (want 303 to the login page)"
    elif r.status_code != 403 or "Not allowed" not in r.text:
        return f"{r.status_code} (want 403, the 'Not allowed' page)"
    if caller.kind != "anonymous" and need in SCOPES and need not in r.text:
        return f"the refusal does not name {need}: {r.text[:300]}"
    return None


async def test_every_caller_against_every_route(
    client: httpx.AsyncClient, callers: list[Caller]
) -> None:
    thread_id, request = await interrupted(client)
    ids = {
        "thread_id": thread_id,
        "request_id": request["id"],
        "endpoint_id": NOTHING,
        "delivery_id": NOTHING,
        "run_id": NOTHING,
        "username": "nobody",
        "prefix": "hitl_nothere",
        "path": "ui.css",
        "assistant_id": "approval",
        "namespace": "nothing",
        "checkpoint_id": NOTHING,
        "cron_id": NOTHING,
        "token": "not-a-token",
    }
    client.app.state.closing = closing = asyncio.Event()  # type: ignore[attr-defined]
    # /ui/events and a thread's progress end their streams at once, as at a server's shutdown
    closing.set()
    walk = sorted(ROUTES.items(), key=lambda item: item[0] == "POST /logout")  # it ends sessions
    problems = []
    for caller in callers:
        for key, call in walk:
            method, path = key.split(" ", 1)
            named = {**ids, **(call.ids or {})}
            url = re.sub(r"\{(\w+)(:\w+)?\}", lambda m, named=named: named[m.group(1)], path)
            form = None if call.form is None else {"_csrf": caller.csrf or "", **call.form}
            r = await caller.http.request(
                method, url + (f"?{call.query}" if call.query else ""), json=call.json, data=form
            )
            if caller.may(call.need):
                if call.unsupported and r.status_code == 501 and r.json()["detail"]:
                    continue
                if _refused(r) or r.status_code >= 500:
                    problems.append(f"{caller.name} {key} ({call.need}): {r.status_code} {r.text}")
            elif (problem := _refusal_problem(caller, path, call.need, r)) is not None:
                problems.append(f"{caller.name} {key} ({call.need}): {problem}")
    assert problems == []
    # nothing the calls asked for happened: the request still waits, no thread was started
    assert (await client.get(f"/api/v1/requests/{request['id']}")).json()["state"] == "pending"
    assert len((await client.get("/api/v1/threads")).json()["items"]) == 1


async def test_a_key_for_webhooks_reads_no_requests_through_the_pages(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    _, request = await interrupted(client)
    hooks = client_for(await auth.make_key(client, "webhooks:admin", "audit:read"))
    assert (await hooks.get(f"/api/v1/requests/{request['id']}")).status_code == 403
    page = await hooks.get(f"/requests/{request['id']}")
    assert page.status_code == 403 and "requests:read" in page.text
    assert "What is asked" not in page.text
    for path in ("/", "/threads", f"/threads/{request['thread_id']}", "/ui/events"):
        assert (await hooks.get(path)).status_code == 403, path
    assert (await hooks.get("/admin/audit")).status_code == 200  # what it may read, it reads
    nobody = client_for()
    assert (await nobody.get("/", params={"fragment": "live"})).status_code == 401
    assert (await nobody.get("/ui/events")).status_code == 401


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


async def test_two_active_keys_never_share_a_name(client: httpx.AsyncClient) -> None:
    """A key's name is who it is on every answer and in the audit log."""
    await auth.make_key(client, "threads:read", name="ci")
    again = await client.post("/api/v1/apikeys", json={"name": " ci ", "scopes": ["*"]})
    assert again.status_code == 422
    [problem] = again.json()["detail"]
    assert problem["loc"] == ["body", "name"] and "'ci'" in problem["msg"]
    names = [k["name"] for k in (await client.get("/api/v1/apikeys")).json()]
    assert sorted(names) == ["ci", "tests"]  # nothing was made
    page = await client.post("/admin/keys", data={"name": "ci", "scopes": "threads:read"})
    assert page.status_code == 422 and "an active key is named" in page.text
    assert len((await client.get("/api/v1/apikeys")).json()) == 2

    [ci] = [k for k in (await client.get("/api/v1/apikeys")).json() if k["name"] == "ci"]
    assert (await client.delete(f"/api/v1/apikeys/{ci['prefix']}")).status_code == 204
    await auth.make_key(client, "threads:read", name="ci")  # a revoked key's name is free


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
    assert "/answer" not in page.text  # no answer form for bob (a comment form, yes)
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
