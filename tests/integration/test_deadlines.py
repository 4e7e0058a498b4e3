"""Assignment and deadlines: where a request's terms come from, each on_timeout policy to its
end, reminders, reassignment, and timers that fire once (hitl/deadlines.py, hitl/timers.py).

Deadlines here are a second or two; the tests wait on the state (the thread's status, the
request's state), never on the clock. Where a deadline must have passed without any timer
firing, the request is moved back in time instead (`travel`), in a service without a runner
(no timer loop) whose timers the test fires itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from hitl import timers
from hitl.api import create_app
from hitl.config import Settings
from tests.support import auth
from tests.support.api import pending, respond, settle, start

CALLBACK = "https://agent.example/hitl"
SCHEMA = {
    "type": "object",
    "properties": {"decision": {"enum": ["approve", "reject"]}, "comment": {"type": "string"}},
    "required": ["decision"],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_delivery": False})


@pytest.fixture
async def api_only(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The service without a runner: no timer fires unless the test fires it."""
    app = create_app(settings.model_copy(update={"runner": False}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hitl", headers=auth.BEARER
        ) as c,
    ):
        c.service = app.state.service  # type: ignore[attr-defined]
        yield c


async def sql(client: httpx.AsyncClient, query: str, *params: Any) -> list[dict[str, Any]]:
    async with client.service.pool.connection() as conn:  # type: ignore[attr-defined]
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []


async def events(client: httpx.AsyncClient, type_: str, subject: str) -> list[dict[str, Any]]:
    found = await sql(
        client,
        "SELECT data FROM hitl_events WHERE type = %s AND subject = %s ORDER BY id",
        type_,
        subject,
    )
    return [r["data"] for r in found]


async def audit(client: httpx.AsyncClient, action: str, subject: str) -> list[dict[str, Any]]:
    return await sql(
        client,
        "SELECT actor, data FROM hitl_audit WHERE action = %s AND subject = %s ORDER BY id",
        action,
        subject,
    )


async def until_status(
    client: httpx.AsyncClient, thread_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    """The thread once its status is ``status`` (a deadline's work passes through queued and
    running first)."""
    async with asyncio.timeout(timeout):
        while True:
            thread: dict[str, Any] = (await client.get(f"/api/v1/threads/{thread_id}")).json()
            if thread["status"] == status:
                return thread
            await asyncio.sleep(0.05)


async def timed(client: httpx.AsyncClient, graph: str = "timed", **input: Any) -> dict[str, Any]:
    """Start a thread of ``graph`` and return its one pending request."""
    thread_id = await start(client, graph, input)
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


async def get(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/requests/{request_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def travel(client: httpx.AsyncClient, request_id: str, seconds: float) -> None:
    """Move a request's deadline window ``seconds`` into the past, as if that time went by."""
    await sql(
        client,
        "UPDATE hitl_requests SET deadline_at = deadline_at - %s, timer_at = timer_at - %s,"
        " window_started_at = window_started_at - %s WHERE id = %s",
        *[timedelta(seconds=seconds)] * 3,
        request_id,
    )


async def endpoint(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/webhooks", json={"url": CALLBACK, "events": []})
    assert r.status_code == 201, r.text


async def external(client: httpx.AsyncClient, **extra: Any) -> httpx.Response:
    body = {"workflow_id": "wf-1", "callback_webhook": CALLBACK, "context": {"q": "ship it?"}}
    return await client.post("/api/v1/requests", json={**body, **extra})


async def people(client: httpx.AsyncClient, **groups: list[str]) -> None:
    """Users and groups (``group=[member, ...]``), written the way the identity tables hold
    them."""
    users = {u for members in groups.values() for u in members} | {"ana", "bo", "cy"}
    for user in sorted(users):
        await sql(
            client,
            "INSERT INTO hitl_users (username) VALUES (%s) ON CONFLICT DO NOTHING",
            user,
        )
    for group, members in groups.items():
        await sql(client, "INSERT INTO hitl_groups (name) VALUES (%s)", group)
        for user in members:
            await sql(
                client,
                "INSERT INTO hitl_group_members (group_name, user_id)"
                " SELECT %s, id FROM hitl_users WHERE username = %s",
                group,
                user,
            )


# -- where the terms come from ---------------------------------------------------------------


async def test_terms_come_from_the_value_then_the_registration_then_the_settings(
    client: httpx.AsyncClient,
) -> None:
    own = {
        "assignees": ["bo", "bo", "cy"],
        "assigned_groups": ["ops"],
        "timeout_seconds": 600,
        "on_timeout": {"action": "default", "value": {"decision": "reject"}},
        "reminders": [0.9, 0.3],
    }
    from_value = await timed(client, terms=own)
    assert from_value["assignees"] == ["bo", "cy"] and from_value["assigned_groups"] == ["ops"]
    assert from_value["on_timeout"] == own["on_timeout"]
    assert from_value["reminders"] == [0.3, 0.9]
    [row] = await sql(
        client,
        "SELECT deadline_at - created_at AS d, timer_at - created_at AS t FROM hitl_requests"
        " WHERE id = %s",
        from_value["id"],
    )
    assert row["d"] == timedelta(seconds=600) and row["t"] == timedelta(seconds=180)
    assert from_value["expires_at"] == from_value["deadline_at"]  # the first API's name
    [created] = await events(client, "request.created", from_value["id"])
    assert created["assignees"] == ["bo", "cy"] and created["groups"] == ["ops"]
    assert created["deadline_at"] is not None and created["thread_id"] == from_value["thread_id"]

    registered = await timed(client, "timed_defaults")
    assert registered["assignees"] == ["ana"] and registered["assigned_groups"] == ["reviewers"]
    assert registered["on_timeout"] == {
        "action": "escalate",
        "to": {"assignees": [], "groups": ["leads"]},
        "extend_seconds": 60.0,
        "max_times": 1,
        "then": {"action": "expire", "thread": "fail"},
    }
    assert registered["reminders"] == [0.25]
    # The value's assignment replaces the registration's whole assignment.
    mixed = await timed(client, "timed_defaults", terms={"assigned_groups": ["ops"]})
    assert mixed["assignees"] == [] and mixed["assigned_groups"] == ["ops"]

    plain = await timed(client)
    assert plain["assignees"] == [] and plain["assigned_groups"] == []
    assert plain["on_timeout"] == {"action": "expire", "thread": "fail"}
    assert plain["reminders"] == [0.5, 0.9]
    [row] = await sql(
        client, "SELECT deadline_at - created_at AS d FROM hitl_requests WHERE id = %s", plain["id"]
    )
    assert row["d"] == timedelta(days=1)


async def test_bad_terms_in_an_interrupt_value_are_ignored_field_by_field(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    terms = {
        "assignees": "bo",  # not a list
        "timeout_seconds": -5,
        "on_timeout": {"action": "explode"},
        "reminders": [1.5],
        "assigned_groups": ["ops"],  # fine: kept
    }
    request = await timed(client, "timed_defaults", terms=terms)
    assert request["state"] == "pending"  # the interrupt is never lost over its terms
    assert request["assignees"] == [] and request["assigned_groups"] == ["ops"]
    assert request["on_timeout"]["action"] == "escalate"  # the registration's
    assert request["reminders"] == [0.25]
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "hitl.runner")
    for name in ("assignees", "timeout_seconds", "on_timeout", "reminders"):
        assert f"ignoring {name}" in logged


# -- the policies, each to its end ----------------------------------------------------------


async def test_a_default_answer_resumes_the_thread_and_the_graph_sees_it(
    client: httpx.AsyncClient,
) -> None:
    default = {"decision": "reject", "comment": "nobody answered"}
    terms = {"timeout_seconds": 1, "on_timeout": {"action": "default", "value": default}}
    request = await timed(client, terms={**terms, "reminders": []})
    thread = await until_status(client, request["thread_id"], "completed")
    assert thread["values"]["log"] == [default]

    answered = await get(client, request["id"])
    assert answered["state"] == "resumed" and answered["response"] == default
    assert answered["responded_by"] == "system:timeout"
    assert answered["deadline_action"] == "default"
    [responded] = await events(client, "request.responded", request["id"])
    assert responded["responded_by"] == "system:timeout"
    [entry] = await audit(client, "request.respond", request["id"])
    assert entry["actor"] == "system:timeout"
    assert await events(client, "request.expired", request["id"]) == []


async def test_a_default_the_schema_refuses_expires_the_request_and_fails_the_thread(
    client: httpx.AsyncClient,
) -> None:
    terms = {
        "timeout_seconds": 1,
        "reminders": [],
        "on_timeout": {"action": "default", "value": {"decision": "maybe"}},
    }
    request = await timed(client, terms=terms)
    thread = await until_status(client, request["thread_id"], "failed")
    assert thread["error"]["type"] == "RequestExpired"
    assert "the default answer was refused" in thread["error"]["message"]
    assert "on_timeout.value.decision" in thread["error"]["message"]
    assert (await get(client, request["id"]))["state"] == "expired"
    [expired] = await events(client, "request.expired", request["id"])
    assert "default answer was refused" in expired["reason"]
    assert expired["thread_action"] == "fail"
    assert await events(client, "request.responded", request["id"]) == []


async def test_expire_with_thread_fail_fails_the_thread(client: httpx.AsyncClient) -> None:
    terms = {"timeout_seconds": 1, "reminders": [], "on_timeout": {"action": "expire"}}
    request = await timed(client, terms=terms)
    thread = await until_status(client, request["thread_id"], "failed")
    assert thread["error"]["type"] == "RequestExpired"
    assert request["id"] in thread["error"]["message"]
    expired = await get(client, request["id"])
    assert expired["state"] == "expired" and expired["deadline_action"] == "expire_fail"
    [event] = await events(client, "request.expired", request["id"])
    assert event["thread_id"] == request["thread_id"] and event["graph"] == "timed"
    assert event["deadline_at"] is not None and event["thread_action"] == "fail"
    [entry] = await audit(client, "request.expire", request["id"])
    assert entry["actor"] == "system:timeout" and entry["data"]["thread"] == "fail"
    [failed] = await events(client, "thread.failed", request["thread_id"])
    assert failed["error"]["type"] == "RequestExpired"


async def test_expire_with_thread_resume_gives_the_graph_the_expiry_marker(
    client: httpx.AsyncClient,
) -> None:
    terms = {
        "timeout_seconds": 1,
        "reminders": [],
        "on_timeout": {"action": "expire", "thread": "resume"},
    }
    request = await timed(client, terms=terms)
    thread = await until_status(client, request["thread_id"], "completed")
    expired = await get(client, request["id"])
    assert expired["state"] == "expired" and expired["deadline_action"] == "expire_resume"
    [marker] = thread["values"]["log"]
    assert marker == {
        "expired": True,
        "request_id": request["id"],
        "deadline_at": marker["deadline_at"],
        "reason": "no answer before the deadline",
    }
    [event] = await events(client, "request.expired", request["id"])
    assert event["deadline_at"] == marker["deadline_at"]


async def test_a_typed_schema_that_refuses_the_expiry_marker_fails_the_thread(
    client: httpx.AsyncClient,
) -> None:
    terms = {
        "timeout_seconds": 1,
        "reminders": [],
        "on_timeout": {"action": "expire", "thread": "resume"},
    }
    request = await timed(client, terms=terms, typed=True)
    thread = await until_status(client, request["thread_id"], "failed")
    assert thread["error"]["type"] == "DeadlineAnswerRefused"
    assert (await get(client, request["id"]))["state"] == "expired"
    assert len(await events(client, "request.expired", request["id"])) == 1


async def test_escalate_reassigns_and_extends_n_times_then_the_final_policy(
    client: httpx.AsyncClient,
) -> None:
    terms = {
        "assignees": ["ana"],
        "timeout_seconds": 1,
        "reminders": [],
        "on_timeout": {
            "action": "escalate",
            "to": {"assignees": ["bo"], "groups": ["leads"]},
            "extend_seconds": 1,
            "max_times": 2,
            "then": {"action": "expire", "thread": "resume"},
        },
    }
    request = await timed(client, terms=terms)
    thread = await until_status(client, request["thread_id"], "completed")
    [marker] = thread["values"]["log"]
    assert marker["expired"] is True and marker["request_id"] == request["id"]

    final = await get(client, request["id"])
    assert final["state"] == "expired" and final["escalations"] == 2
    assert final["assignees"] == ["bo"] and final["assigned_groups"] == ["leads"]
    escalated = await events(client, "request.escalated", request["id"])
    assert [e["escalations"] for e in escalated] == [1, 2]
    first, second = escalated
    assert first["previous"]["assignees"] == ["ana"] and first["assignees"] == ["bo"]
    assert first["groups"] == ["leads"] and second["previous"]["groups"] == ["leads"]
    # Each escalation starts a new deadline window after the one before.
    deadlines = [
        first["previous"]["deadline_at"],
        first["deadline_at"],
        second["previous"]["deadline_at"],
        second["deadline_at"],
    ]
    assert deadlines[1] == deadlines[2] and second["deadline_at"] == marker["deadline_at"]
    assert sorted(deadlines, key=datetime.fromisoformat) == deadlines
    entries = await audit(client, "request.escalate", request["id"])
    assert [e["actor"] for e in entries] == ["system:timeout"] * 2
    assert entries[0]["data"]["before"]["assignees"] == ["ana"]
    assert entries[0]["data"]["after"]["assignees"] == ["bo"]
    assert len(await events(client, "request.expired", request["id"])) == 1


async def test_reminders_fire_once_each_and_again_after_an_escalation(
    api_only: httpx.AsyncClient,
) -> None:
    await endpoint(api_only)
    await people(api_only, leads=["cy"])
    on_timeout = {"action": "escalate", "to": {"groups": ["leads"]}, "extend_seconds": 100}
    r = await external(api_only, timeout_seconds=100, reminders=[0.6, 0.3], on_timeout=on_timeout)
    assert r.status_code == 201, r.text
    request = r.json()
    pool = api_only.service.pool  # type: ignore[attr-defined]

    async def fire_after(seconds: float) -> int:
        await travel(api_only, request["id"], seconds)
        return await timers.fire_due(pool)

    assert [await fire_after(30), await fire_after(0)] == [1, 0]  # 30%: once
    assert [await fire_after(30), await fire_after(0)] == [1, 0]  # 60%: once
    assert [await fire_after(40), await fire_after(0)] == [1, 0]  # the deadline: escalated
    # The new window has its reminders; two missed at once are folded into one.
    assert [await fire_after(70), await fire_after(0)] == [1, 0]
    found = await sql(
        api_only,
        "SELECT type, data FROM hitl_events WHERE subject = %s AND type LIKE 'request.%%'"
        " ORDER BY id",
        request["id"],
    )
    assert [(r["type"], r["data"].get("reminder")) for r in found] == [
        ("request.created", None),
        ("request.reminded", 0.3),
        ("request.reminded", 0.6),
        ("request.escalated", None),
        ("request.reminded", 0.6),
    ]
    reminded = found[1]["data"]
    assert reminded["deadline_at"] is not None and reminded["escalations"] == 0
    assert found[4]["data"]["escalations"] == 1 and found[4]["data"]["groups"] == ["leads"]


# -- timers fire once; people cannot answer late ---------------------------------------------


async def test_a_late_answer_is_refused_and_the_timer_fires_once(
    api_only: httpx.AsyncClient,
) -> None:
    await endpoint(api_only)
    r = await external(api_only, response_schema=SCHEMA, timeout_seconds=3600, reminders=[0.5])
    request = r.json()
    assert await timers.fire_due(api_only.service.pool) == 0  # type: ignore[attr-defined]

    await travel(api_only, request["id"], 1800)  # half way: the reminder is due
    assert await timers.fire_due(api_only.service.pool) == 1  # type: ignore[attr-defined]
    assert await timers.fire_due(api_only.service.pool) == 0  # type: ignore[attr-defined]
    assert len(await events(api_only, "request.reminded", request["id"])) == 1

    await travel(api_only, request["id"], 1800)  # the deadline passed; no timer fired yet
    late = await respond(api_only, request["id"], {"decision": "approve"})
    assert late.status_code == 409
    assert late.json()["detail"]["state"] == "pending"
    assert "deadline" in late.json()["detail"]["msg"]
    assert (await get(api_only, request["id"]))["state"] == "pending"

    assert await timers.fire_due(api_only.service.pool) == 1  # type: ignore[attr-defined]
    assert await timers.fire_due(api_only.service.pool) == 0  # type: ignore[attr-defined]
    shown = await get(api_only, request["id"])
    assert shown["state"] == "expired" and shown["response"] is None  # external: no marker
    [event] = await events(api_only, "request.expired", request["id"])
    assert event["kind"] == "external" and event["workflow_id"] == "wf-1"
    assert event["thread_action"] is None
    late = await respond(api_only, request["id"], {"decision": "approve"})
    assert late.status_code == 409 and late.json()["detail"]["state"] == "expired"


async def test_concurrent_pollers_fire_each_timer_once(api_only: httpx.AsyncClient) -> None:
    await endpoint(api_only)
    ids = []
    for _ in range(60):
        ids.append((await external(api_only, timeout_seconds=60, reminders=[])).json()["id"])
    await sql(
        api_only,
        "UPDATE hitl_requests SET deadline_at = now() - interval '1 second',"
        " timer_at = now() - interval '1 second'",
    )
    pool = api_only.service.pool  # type: ignore[attr-defined]
    fired = await asyncio.gather(*(timers.fire_due(pool, batch=7) for _ in range(12)))
    while sum(fired) < len(ids):  # each poller takes what the others have not locked
        fired += await asyncio.gather(*(timers.fire_due(pool, batch=7) for _ in range(4)))
    assert sum(fired) == len(ids)
    [row] = await sql(
        api_only,
        "SELECT count(*) AS n, count(DISTINCT subject) AS d FROM hitl_events"
        " WHERE type = 'request.expired'",
    )
    assert row == {"n": len(ids), "d": len(ids)}


async def test_a_default_answer_of_an_external_request_goes_to_its_callback(
    api_only: httpx.AsyncClient,
) -> None:
    await endpoint(api_only)
    on_timeout = {"action": "default", "value": {"decision": "reject"}}
    request = (
        await external(api_only, response_schema=SCHEMA, timeout_seconds=60, on_timeout=on_timeout)
    ).json()
    await travel(api_only, request["id"], 60)
    assert await timers.fire_due(api_only.service.pool) == 1  # type: ignore[attr-defined]
    shown = await get(api_only, request["id"])
    assert shown["state"] == "responded" and shown["response"] == {"decision": "reject"}
    assert shown["responded_by"] == "system:timeout"
    [callback] = await sql(
        api_only,
        "SELECT kind, body::jsonb AS body FROM hitl_webhook_deliveries WHERE request_id = %s",
        request["id"],
    )
    assert callback["kind"] == "callback"
    assert callback["body"]["response"] == {"decision": "reject"}


# -- external requests: routing and deadline fields ------------------------------------------


async def test_an_external_request_takes_routing_and_deadline_terms(
    client: httpx.AsyncClient,
) -> None:
    await endpoint(client)
    await people(client, leads=["cy"], ops=["bo"])
    on_timeout = {
        "action": "escalate",
        "to": {"groups": ["leads"]},
        "extend_seconds": 600,
        "then": {"action": "default", "value": {"decision": "reject"}},
    }
    r = await external(
        client,
        response_schema=SCHEMA,
        routing={"assignees": ["ana"], "groups": ["ops"]},
        timeout_seconds=120,
        on_timeout=on_timeout,
        reminders=[0.5],
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["assignees"] == ["ana"] and created["assigned_groups"] == ["ops"]
    assert created["on_timeout"]["then"] == on_timeout["then"]
    assert created["reminders"] == [0.5] and created["expires_at"] == created["deadline_at"]
    [event] = await events(client, "request.created", created["id"])
    assert event["assignees"] == ["ana"] and event["groups"] == ["ops"]
    assert event["expires_at"] == event["deadline_at"]

    defaults = (await external(client)).json()
    assert defaults["assignees"] == [] and defaults["reminders"] == [0.5, 0.9]
    assert defaults["on_timeout"] == {"action": "expire", "thread": "fail"}


@pytest.mark.parametrize(
    ("extra", "loc"),
    [
        ({"routing": {"assignees": "ana"}}, ["body", "routing", "assignees"]),
        ({"routing": {"assignees": ["a b"]}}, ["body", "routing", "assignees", 0]),
        ({"routing": {"users": ["ana"]}}, ["body", "routing", "users"]),
        ({"routing": {"assignees": ["ana", "zed"]}}, ["body", "routing", "assignees", 1]),
        ({"routing": {"groups": ["nobody"]}}, ["body", "routing", "groups", 0]),
        ({"on_timeout": {"action": "explode"}}, ["body", "on_timeout"]),
        (
            {"on_timeout": {"action": "escalate", "to": {"groups": ["leads"]}}},
            ["body", "on_timeout", "escalate", "extend_seconds"],
        ),
        (
            {
                "on_timeout": {
                    "action": "escalate",
                    "to": {"groups": ["leads"]},
                    "extend_seconds": 5,
                    "then": {
                        "action": "escalate",
                        "to": {"assignees": ["zed"]},
                        "extend_seconds": 5,
                    },
                }
            },
            ["body", "on_timeout", "then", "to", "assignees", 0],
        ),
        (
            {"on_timeout": {"action": "default", "value": {"decision": "maybe"}}},
            ["body", "on_timeout", "value", "decision"],
        ),
        ({"reminders": [1.2]}, ["body", "reminders", 0]),
        ({"timeout_seconds": 0}, ["body", "timeout_seconds"]),
    ],
)
async def test_bad_external_terms_get_422_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, extra: dict[str, Any], loc: list[Any]
) -> None:
    await endpoint(client)
    await people(client, leads=["cy"])
    r = await external(client, response_schema=SCHEMA, **extra)
    assert r.status_code == 422, r.text
    assert loc in [e["loc"][: len(loc)] for e in r.json()["detail"]], r.json()
    assert await sql(client, "SELECT id FROM hitl_requests") == []


# -- reassignment and the assigned_to filter -------------------------------------------------


async def test_reassign_a_pending_request(client: httpx.AsyncClient) -> None:
    await people(client, leads=["cy"])
    request = await timed(client, terms={"assignees": ["ana"]})
    r = await client.post(
        f"/api/v1/requests/{request['id']}/assign",
        json={"assignees": ["bo"], "groups": ["leads"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["assignees"] == ["bo"] and r.json()["assigned_groups"] == ["leads"]
    [event] = await events(client, "request.assigned", request["id"])
    assert event["assignees"] == ["bo"] and event["groups"] == ["leads"]
    assert event["previous"] == {"assignees": ["ana"], "groups": []}
    assert event["thread_id"] == request["thread_id"] and event["deadline_at"] is not None
    [entry] = await audit(client, "request.assign", request["id"])
    assert entry["actor"] == "key:tests"
    assert entry["data"] == {
        "before": {"assignees": ["ana"], "groups": []},
        "after": {"assignees": ["bo"], "groups": ["leads"]},
    }

    for body, loc in [
        ({"assignees": ["zed"]}, ["body", "assignees", 0]),
        ({"groups": ["bad name"]}, ["body", "groups", 0]),
        ({"assignees": "bo"}, ["body", "assignees"]),
        ({"people": []}, ["body", "people"]),
    ]:
        r = await client.post(f"/api/v1/requests/{request['id']}/assign", json=body)
        assert r.status_code == 422, r.text
        assert loc in [e["loc"] for e in r.json()["detail"]], r.json()
    assert (await get(client, request["id"]))["assignees"] == ["bo"]

    # Both empty: anyone.
    r = await client.post(f"/api/v1/requests/{request['id']}/assign", json={})
    assert r.status_code == 200 and r.json()["assignees"] == []

    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    r = await client.post(f"/api/v1/requests/{request['id']}/assign", json={"assignees": ["bo"]})
    assert r.status_code == 409 and r.json()["detail"]["state"] in ("responded", "resumed")
    assert len(await events(client, "request.assigned", request["id"])) == 2
    missing = await client.post("/api/v1/requests/nope/assign", json={})
    assert missing.status_code == 404


async def test_assigned_to_lists_requests_of_a_user_and_of_their_groups(
    client: httpx.AsyncClient,
) -> None:
    await people(client, leads=["cy", "bo"], ops=["ana"])
    to_bo = await timed(client, terms={"assignees": ["bo"]})
    to_leads = await timed(client, terms={"assigned_groups": ["leads"]})
    to_ana = await timed(client, terms={"assignees": ["ana"], "assigned_groups": ["ops"]})
    await timed(client)  # anyone's: assigned to nobody in particular

    async def listed(user: str, **params: str) -> list[str]:
        r = await client.get("/api/v1/requests", params={"assigned_to": user, **params})
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await listed("bo") == [to_leads["id"], to_bo["id"]]
    assert await listed("cy") == [to_leads["id"]]
    assert await listed("ana", state="pending") == [to_ana["id"]]
    assert await listed("dee") == []
    assert (await client.get("/api/v1/requests?assigned_to=a%20b")).status_code == 422

    page = await client.get("/", params={"assigned_to": "cy"})
    assert page.status_code == 200
    assert to_leads["id"] in page.text and to_bo["id"] not in page.text


async def test_the_request_page_reassigns(client: httpx.AsyncClient) -> None:
    await people(client, leads=["cy"])
    request = await timed(client, terms={"assignees": ["ana"], "timeout_seconds": 600})
    page = await client.get(f"/requests/{request['id']}")
    assert 'id="deadline"' in page.text and 'action="/requests/' in page.text
    assert 'name="assignees" value="ana"' in page.text

    form = {"assignees": "bo, cy", "groups": "leads"}
    r = await client.post(f"/requests/{request['id']}/assign", data=form)
    assert r.status_code == 303
    shown = await get(client, request["id"])
    assert shown["assignees"] == ["bo", "cy"] and shown["assigned_groups"] == ["leads"]

    r = await client.post(f"/requests/{request['id']}/assign", data={"assignees": "zed"})
    assert r.status_code == 422 and "no user &#39;zed&#39;" in r.text
    assert 'value="zed"' in r.text  # what was typed stays
    r = await client.post(f"/requests/{request['id']}/assign", data={"groups": "a b"})
    assert r.status_code == 422
    assert (await get(client, request["id"]))["assignees"] == ["bo", "cy"]


async def test_the_sdk_assigns_filters_and_asks_with_terms(client: httpx.AsyncClient) -> None:
    from hitl.sdk import HITLClient
    from hitl.sdk.client import ConflictError, InvalidInputError

    await endpoint(client)
    await people(client, leads=["cy"])
    async with HITLClient(http=client) as hitl:
        asked = await hitl.create_request(
            "wf-2",
            CALLBACK,
            {"q": "ship it?"},
            routing={"assignees": ["ana"]},
            timeout_seconds=60,
            on_timeout={"action": "expire"},
            reminders=[0.5],
        )
        assert asked["assignees"] == ["ana"] and asked["reminders"] == [0.5]
        assigned = await hitl.assign(asked["id"], groups=["leads"])
        assert assigned["assignees"] == [] and assigned["assigned_groups"] == ["leads"]
        page = await hitl.list_requests(assigned_to="cy")
        assert [r["id"] for r in page["items"]] == [asked["id"]]
        with pytest.raises(InvalidInputError):
            await hitl.assign(asked["id"], assignees=["zed"])
        await hitl.respond(asked["id"], {"ok": True})
        with pytest.raises(ConflictError) as late:
            await hitl.assign(asked["id"], assignees=["ana"])
        assert late.value.state == "responded"


async def test_reassigning_needs_the_requests_write_scope(
    client: httpx.AsyncClient, client_for: Any
) -> None:
    request = await timed(client, terms={"assignees": ["ana"]})
    responder = client_for(await auth.make_key(client, "requests:read", "requests:answer"))
    r = await responder.post(f"/api/v1/requests/{request['id']}/assign", json={})
    assert r.status_code == 403 and "requests:write" in r.json()["detail"]
    page = await responder.get(f"/requests/{request['id']}")
    assert (
        page.status_code == 200 and 'action="/requests/' not in page.text.split("assignment-h")[1]
    )
    r = await responder.post(f"/requests/{request['id']}/assign", data={"assignees": ""})
    assert r.status_code == 403
    assert (await get(client, request["id"]))["assignees"] == ["ana"]
    assert await events(client, "request.assigned", request["id"]) == []

    writer = client_for(await auth.make_key(client, "requests:write", name="w"))
    r = await writer.post(f"/api/v1/requests/{request['id']}/assign", json={})
    assert r.status_code == 200 and r.json()["assignees"] == []
