"""Four-eyes (hitl/four_eyes.py): who asked for a request may not answer it, when the request
says so, at every door: the API, the thread's resume, the Agent Server API and the web UI
(and its bulk answer). Real Postgres, the service's app in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hitl.config import Settings
from tests.integration.test_webhooks import register
from tests.support import auth, webhooks
from tests.support.api import asked, respond
from tests.support.auth import signed_in
from tests.support.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The product's default: four-eyes for external requests."""
    return webhooks.delivering_locally(settings, forbid_self_approval="external")


def refused_as_self_approval(r: httpx.Response, name: str) -> None:
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    assert f"asked for by {name!r}" in detail and "forbid_self_approval" in detail, detail


APPROVE = {"decision": "approve"}


async def test_the_thread_starter_may_not_answer_a_four_eyes_graph(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    scopes = ("threads:read", "threads:write", "requests:answer", "requests:read")
    key = await auth.make_key(client, *scopes, name="ci")
    starter = client_for(key)
    request = await asked(starter, "four_eyes")  # registered with forbid_self_approval=True
    assert request["requested_by"] == "key:ci"
    assert request["forbid_self_approval"] is True
    assert "requested_by_subject" not in request

    refused_as_self_approval(await respond(starter, request["id"], APPROVE), "key:ci")
    after = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert after["state"] == "pending" and after["response"] is None

    # anyone else (here the admin) may
    r = await respond(client, request["id"], APPROVE)
    assert r.status_code == 200, r.text
    assert r.json()["responded_by"] == "key:tests"


async def test_graph_requests_allow_it_unless_asked(client: httpx.AsyncClient) -> None:
    # HITL_FORBID_SELF_APPROVAL=external: a graph's request says nothing, so it is allowed
    request = await asked(client, "terms")
    assert request["forbid_self_approval"] is False
    assert (await respond(client, request["id"], APPROVE)).status_code == 200

    # the interrupt value turns it on (and a bad value is ignored: the next source decides)
    request = await asked(client, "terms", forbid_self_approval=True)
    refused_as_self_approval(await respond(client, request["id"], APPROVE), "key:tests")
    request = await asked(client, "terms", forbid_self_approval="yes")
    assert request["forbid_self_approval"] is False


async def test_the_person_a_graph_acts_for_may_not_answer(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    bo = await signed_in(client, client_for, "bo")
    request = await asked(client, "terms", forbid_self_approval=True, on_behalf_of="ana")
    assert request["on_behalf_of"] == "ana"

    refused_as_self_approval(await respond(ana, request["id"], APPROVE), "ana")
    assert (await respond(bo, request["id"], APPROVE)).status_code == 200


async def test_an_external_request_refuses_its_creator_by_default(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], hook: Receiver
) -> None:
    callback = hook.url()
    await register(client, callback, [])
    body = {"workflow_id": "wf-1", "callback_webhook": callback, "context": {"q": "ship?"}}
    r = await client.post("/api/v1/requests", json=body)
    assert r.status_code == 201, r.text
    request = r.json()
    assert request["forbid_self_approval"] is True
    assert request["requested_by"] == request["created_by"] == "key:tests"

    refused_as_self_approval(await respond(client, request["id"], APPROVE), "key:tests")
    bo = await signed_in(client, client_for, "bo")
    assert (await respond(bo, request["id"], APPROVE)).status_code == 200

    # the creator may say otherwise for its own request
    r = await client.post("/api/v1/requests", json={**body, "forbid_self_approval": False})
    assert (await respond(client, r.json()["id"], APPROVE)).status_code == 200

    # and name the person it asks for, who may not answer either
    ana = await signed_in(client, client_for, "ana")
    r = await client.post("/api/v1/requests", json={**body, "on_behalf_of": "ana"})
    refused_as_self_approval(await respond(ana, r.json()["id"], APPROVE), "ana")
    r = await client.post("/api/v1/requests", json={**body, "on_behalf_of": "not a name"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "on_behalf_of"]


async def test_every_door_refuses_the_requester(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")

    async def ask() -> dict[str, Any]:
        return await asked(client, "terms", forbid_self_approval=True, on_behalf_of="ana")

    # the thread's resume
    request = await ask()
    r = await ana.post(
        f"/api/v1/threads/{request['thread_id']}/resume",
        json={"resume": {request["interrupt_id"]: APPROVE}},
    )
    refused_as_self_approval(r, "ana")

    # the Agent Server API (which resumes with threads:write: here the key that started it)
    scopes = ("threads:read", "threads:write", "requests:answer", "requests:read")
    starter = client_for(await auth.make_key(client, *scopes, name="agent"))
    mine = await asked(starter, "terms", forbid_self_approval=True)
    r = await starter.post(
        f"/lg/threads/{mine['thread_id']}/runs/wait",
        json={"assistant_id": "terms", "command": {"resume": APPROVE}},
    )
    refused_as_self_approval(r, "key:agent")

    request = await ask()

    # the web UI: the page says so, and the form's answer is refused
    csrf = ana.headers["X-CSRF-Token"]
    page = await ana.get(f"/requests/{request['id']}")
    assert "another person must answer it" in page.text
    r = await ana.post(
        f"/requests/{request['id']}/answer", data={"_csrf": csrf, "decision": "approve"}
    )
    assert r.status_code == 403 and "forbid_self_approval" in r.text

    # the inbox's bulk answer skips it
    r = await ana.post(
        "/bulk",
        data={"_csrf": csrf, "ids": [request["id"]], "decision": "approve"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "bulk_skipped=1" in r.headers["location"], r.text

    after = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert after["state"] == "pending"
