"""Quorum (hitl/quorum.py): several votes decide a request, one person one vote, and the races:
two last votes at once resolve it once and the graph resumes once; a veto racing the last
approval; a vote after the request resolved. Real Postgres, the service's app in-process; the
races are made certain by holding the request's row lock until both votes wait for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from hitl.auth import users
from hitl.service import Service
from tests.integration.test_answer_reassigned import signed_in
from tests.integration.test_delegation import delegate
from tests.support.api import pending, respond, settle, start

APPROVE = {"decision": "approve"}
REJECT = {"decision": "reject", "comment": "not this week"}


async def voters(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], *names: str
) -> list[httpx.AsyncClient]:
    return [await signed_in(client, client_for, name) for name in names]


async def quorum_request(client: httpx.AsyncClient, **terms: Any) -> dict[str, Any]:
    thread_id = await start(client, "quorum", {"terms": terms} if terms else {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    return request


async def resumed(client: httpx.AsyncClient, database_url: str, thread_id: str) -> list[Any]:
    """The thread's log once it completed; and it was resumed by exactly one run."""
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed", thread
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM hitl_runs WHERE thread_id = %s AND kind = 'resume'",
            (thread_id,),
        )
        row = await cur.fetchone()
    assert row is not None and row[0] == 1
    detail = (await client.get(f"/api/v1/threads/{thread_id}")).json()
    log: list[Any] = detail["values"]["log"]
    return log


async def test_two_approvals_decide_and_the_graph_gets_the_votes(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    ana, bo, cy = await voters(client, client_for, "ana", "bo", "cy")
    request = await quorum_request(client)
    assert request["approval"] == {
        "min": 2,
        "distinct": True,
        "veto": "any_reject",
        "approve": "approve",
        "reject": "reject",
    }
    rid = request["id"]

    first = await respond(ana, rid, {"decision": "approve", "comment": "numbers check out"})
    assert first.status_code == 200 and first.json()["state"] == "pending"
    again = await respond(ana, rid, APPROVE)  # one person, one vote
    assert again.status_code == 409 and "one person, one vote" in again.json()["detail"]["msg"]
    bad = await respond(bo, rid, {"decision": "maybe"})  # validated like any answer
    assert bad.status_code == 422
    votes = (await client.get(f"/api/v1/requests/{rid}/votes")).json()
    assert [(v["by"], v["decision"]) for v in votes] == [("ana", "approve")]

    second = await respond(bo, rid, APPROVE)
    assert second.status_code == 200 and second.json()["state"] == "responded", second.text
    answer = second.json()["response"]
    assert answer["decision"] == "approve" and answer["reason"] == "quorum"
    assert [(v["by"], v["decision"]) for v in answer["votes"]] == [
        ("ana", "approve"),
        ("bo", "approve"),
    ]
    assert answer["votes"][0]["response"]["comment"] == "numbers check out"

    late = await respond(cy, rid, APPROVE)  # a vote after it resolved
    assert late.status_code == 409 and late.json()["detail"]["state"] in ("responded", "resumed")

    [(step, value)] = await resumed(client, database_url, request["thread_id"])
    assert step == "decided" and value == answer
    audit = (await client.get("/api/v1/audit", params={"subject": rid})).json()["items"]
    assert sorted(e["actor"] for e in audit if e["action"] == "request.vote") == ["ana", "bo"]


async def test_a_reject_vetoes_unless_the_terms_say_otherwise(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana, bo, cy = await voters(client, client_for, "ana", "bo", "cy")
    vetoed = await quorum_request(client)
    await respond(ana, vetoed["id"], APPROVE)
    r = await respond(bo, vetoed["id"], REJECT)
    assert r.json()["state"] == "responded" and r.json()["response"]["decision"] == "reject"

    counted = await quorum_request(client, approval={"min": 2, "veto": "none"})
    assert (await respond(ana, counted["id"], REJECT)).json()["state"] == "pending"
    assert (await respond(bo, counted["id"], APPROVE)).json()["state"] == "pending"
    r = await respond(cy, counted["id"], APPROVE)
    assert r.json()["state"] == "responded" and r.json()["response"]["decision"] == "approve"


async def until_votes_wait_for_the_lock(conn: psycopg.AsyncConnection[Any], count: int) -> None:
    for _ in range(500):
        cur = await conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%%FOR UPDATE%%'"
        )
        row = await cur.fetchone()
        if row and row["n"] >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the votes never waited for the request's lock")


async def votes_at_once(
    database_url: str, request_id: str, *votes: tuple[httpx.AsyncClient, Any]
) -> list[httpx.Response]:
    """The votes sent together while another transaction holds the request's row; released
    once they all wait for it."""
    async with (
        await psycopg.AsyncConnection.connect(
            database_url, row_factory=dict_row, autocommit=True
        ) as watcher,
        await psycopg.AsyncConnection.connect(database_url) as holder,
    ):
        async with holder.transaction():
            await holder.execute(
                "SELECT 1 FROM hitl_requests WHERE id = %s FOR UPDATE", (request_id,)
            )
            sent = [asyncio.create_task(respond(who, request_id, vote)) for who, vote in votes]
            await until_votes_wait_for_the_lock(watcher, len(votes))
        return list(await asyncio.gather(*sent))


async def test_two_last_votes_at_once_resolve_it_once_and_resume_once(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    ana, bo, cy = await voters(client, client_for, "ana", "bo", "cy")
    request = await quorum_request(client, approval={"min": 3})
    assert (await respond(cy, request["id"], APPROVE)).json()["state"] == "pending"
    # one vote missing: ana and bo vote at once; both would be the third
    answers = await votes_at_once(database_url, request["id"], (ana, APPROVE), (bo, APPROVE))
    assert sorted(r.status_code for r in answers) == [200, 200]
    states = sorted(r.json()["state"] for r in answers)
    assert states == ["pending", "responded"], [r.json() for r in answers]
    [decided] = [r.json() for r in answers if r.json()["state"] == "responded"]
    assert len(decided["response"]["votes"]) == 3

    log = await resumed(client, database_url, request["thread_id"])
    assert log == [["decided", decided["response"]]]


async def test_a_veto_racing_the_last_approval_decides_once(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    ana, bo, cy = await voters(client, client_for, "ana", "bo", "cy")
    request = await quorum_request(client)
    await respond(ana, request["id"], APPROVE)
    answers = await votes_at_once(database_url, request["id"], (bo, APPROVE), (cy, REJECT))
    # whichever came first decided; the other is a vote after the request resolved
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    [won] = [r.json() for r in answers if r.status_code == 200]
    assert won["state"] == "responded"
    log = await resumed(client, database_url, request["thread_id"])
    assert log == [["decided", won["response"]]]
    votes = (await client.get(f"/api/v1/requests/{request['id']}/votes")).json()
    assert len(votes) == 2  # the losing vote was not recorded


async def test_who_may_not_answer_may_not_vote(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana, bo = await voters(client, client_for, "ana", "bo")
    request = await quorum_request(
        client, assignees=["ana"], forbid_self_approval=True, on_behalf_of="ana"
    )
    r = await respond(bo, request["id"], APPROVE)
    assert r.status_code == 403 and "assigned to others" in r.json()["detail"]
    r = await respond(ana, request["id"], APPROVE)
    assert r.status_code == 403 and "forbid_self_approval" in r.json()["detail"]
    assert (await client.get(f"/api/v1/requests/{request['id']}/votes")).json() == []


async def deadline_passes(database_url: str, request_id: str) -> None:
    """Time passes: the request's deadline (and so its timer) is behind it."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(
            "UPDATE hitl_requests SET deadline_at = now() - interval '1 second',"
            " timer_at = now() - interval '1 second' WHERE id = %s",
            (request_id,),
        )


async def until_request(
    client: httpx.AsyncClient, request_id: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            body: dict[str, Any] = (await client.get(f"/api/v1/requests/{request_id}")).json()
            if check(body):
                return body
            await asyncio.sleep(0.1)


async def test_an_escalation_widens_who_may_vote_and_a_default_is_recorded_as_such(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    ana, bo = await voters(client, client_for, "ana", "bo")
    escalating = await quorum_request(
        client,
        assignees=["ana"],
        on_timeout={
            "action": "escalate",
            "to": {"assignees": ["ana", "bo"]},
            "extend_seconds": 3600,
        },
    )
    assert (await respond(ana, escalating["id"], APPROVE)).json()["state"] == "pending"
    assert (await respond(bo, escalating["id"], APPROVE)).status_code == 403  # not yet
    await deadline_passes(database_url, escalating["id"])
    await until_request(client, escalating["id"], lambda r: r["escalations"] == 1)
    r = await respond(bo, escalating["id"], APPROVE)
    assert r.status_code == 200 and r.json()["state"] == "responded", r.text
    assert [v["by"] for v in r.json()["response"]["votes"]] == ["ana", "bo"]

    defaulted = await quorum_request(
        client, on_timeout={"action": "default", "value": {"decision": "reject"}}
    )
    await respond(ana, defaulted["id"], APPROVE)
    await deadline_passes(database_url, defaulted["id"])
    done = await until_request(client, defaulted["id"], lambda r: r["state"] != "pending")
    assert done["responded_by"] == "system:timeout" and done["deadline_action"] == "default"
    assert done["response"] == {"decision": "reject"}
    votes = (await client.get(f"/api/v1/requests/{defaulted['id']}/votes")).json()
    assert [v["by"] for v in votes] == ["ana"]  # the votes so far stay on record


async def test_votes_through_the_agent_server_door(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    from tests.support import auth

    scopes = ("threads:read", "threads:write", "requests:answer", "requests:read")
    first, second = [
        client_for(await auth.make_key(client, *scopes, name=name)) for name in ("lg-a", "lg-b")
    ]
    request = await quorum_request(client)
    url = f"/lg/threads/{request['thread_id']}/runs/wait"
    body = {"assistant_id": "quorum", "command": {"resume": APPROVE}}
    r = await first.post(url, json=body)
    assert r.status_code == 409 and "the vote was recorded" in r.text, r.text
    r = await second.post(url, json=body)
    assert r.status_code == 200, r.text
    votes = (await client.get(f"/api/v1/requests/{request['id']}/votes")).json()
    assert [v["by"] for v in votes] == ["key:lg-a", "key:lg-b"]


async def in_group(service: Service, group: str, *names: str) -> None:
    async with service.pool.connection() as conn:
        for name in names:
            await users.add_to_group(conn, name, group, actor="tests")


async def test_only_the_people_from_names_may_vote(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], service: Service
) -> None:
    ana, bo, cy = await voters(client, client_for, "ana", "bo", "cy")
    await in_group(service, "security", "ana", "bo")
    request = await quorum_request(
        client, assignees=["cy"], approval={"min": 2, "from": {"groups": ["security"]}}
    )
    assert request["approval"]["from"] == {"assignees": [], "groups": ["security"]}
    # routed to its voters too: they see it and are notified
    assert request["assignees"] == ["cy"] and request["assigned_groups"] == ["security"]
    for outsider in (cy, client):  # an assignee who is not a voter; an admin's API key
        r = await respond(outsider, request["id"], APPROVE)
        assert r.status_code == 403 and "approval.from" in r.json()["detail"], r.text
    page = (await cy.get(f"/requests/{request['id']}")).text
    assert "from the group security" in page
    assert 'id="not-a-voter">Only the group security may vote' in page
    assert 'id="not-a-voter"' not in (await ana.get(f"/requests/{request['id']}")).text
    assert (await client.get(f"/api/v1/requests/{request['id']}/votes")).json() == []
    assert (await respond(ana, request["id"], APPROVE)).json()["state"] == "pending"
    r = await respond(bo, request["id"], APPROVE)
    assert r.json()["state"] == "responded" and r.json()["response"]["reason"] == "quorum"

    bad = await quorum_request(client, approval={"min": 2, "from": {}})
    # a bad term is set aside (the graph's registration gives it) and named in the metadata
    assert "from" not in bad["approval"]


async def test_a_quorum_that_can_no_longer_be_reached_is_decided(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    ana, bo, cy, di = await voters(client, client_for, "ana", "bo", "cy", "di")
    four = {"assignees": ["ana", "bo", "cy", "di"]}
    counted = await quorum_request(client, approval={"min": 3, "veto": "none", "from": four})
    rid = counted["id"]
    assert (await respond(ana, rid, REJECT)).json()["state"] == "pending"  # 3 may approve
    assert (await respond(bo, rid, APPROVE)).json()["state"] == "pending"  # 1 + 2
    r = await respond(cy, rid, REJECT)  # 1 + 1 < 3: approval is out of reach
    decided = r.json()
    assert decided["state"] == "responded", decided
    assert decided["response"]["decision"] == "reject"  # the most votes
    assert decided["response"]["reason"] == "unreachable"
    log = await resumed(client, database_url, counted["thread_id"])
    assert log == [["decided", decided["response"]]]
    page = (await di.get(f"/requests/{rid}")).text
    assert 'id="quorum-outcome"' in page and "too few people were left to vote" in page
    assert (await respond(di, rid, APPROVE)).status_code == 409

    # four-eyes takes the requester out of the voters: bo alone cannot make two approvals
    own = await quorum_request(
        client,
        approval={"min": 2, "from": {"assignees": ["ana", "bo"]}},
        forbid_self_approval=True,
        on_behalf_of="ana",
    )
    r = await respond(bo, own["id"], APPROVE)
    assert r.json()["state"] == "responded", r.text
    assert r.json()["response"]["decision"] == "reject"  # the terms' reject: no vote said so
    assert r.json()["response"]["reason"] == "unreachable"


async def test_delegates_vote_for_whom_they_stand_in_and_distinct_counts_people(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana, bo, cy, di = await voters(client, client_for, "ana", "bo", "cy", "di")
    pool = {"assignees": ["ana", "bo", "cy"]}
    assert (await delegate(ana, "di")).status_code == 200  # di is not among the voters
    assert (await delegate(cy, "bo")).status_code == 200  # bo is

    strict = await quorum_request(client, approval={"min": 3, "from": pool})
    r = await respond(di, strict["id"], APPROVE)  # counts for ana
    assert r.status_code == 200 and r.json()["state"] == "pending", r.text
    r = await respond(ana, strict["id"], APPROVE)  # ana was counted through di
    assert r.status_code == 409 and "one person, one vote" in r.json()["detail"]["msg"]
    assert (await respond(bo, strict["id"], APPROVE)).json()["state"] == "pending"
    r = await respond(bo, strict["id"], APPROVE)  # distinct: bo voted, not again for cy
    assert r.status_code == 409, r.text
    votes = (await client.get(f"/api/v1/requests/{strict['id']}/votes")).json()
    assert [(v["by"], v["responded_for"]) for v in votes] == [("di", "ana"), ("bo", None)]
    page = (await cy.get(f"/requests/{strict['id']}")).text
    assert "<strong>di</strong> for <strong>ana</strong> voted" in page

    loose = await quorum_request(client, approval={"min": 2, "from": pool, "distinct": False})
    assert (await respond(bo, loose["id"], APPROVE)).json()["state"] == "pending"
    r = await respond(bo, loose["id"], APPROVE)  # now for cy, whom bo stands in for
    assert r.status_code == 200 and r.json()["state"] == "responded", r.text
    votes = r.json()["response"]["votes"]
    assert [(v["by"], v["responded_for"]) for v in votes] == [("bo", None), ("bo", "cy")]
    audit = (await client.get("/api/v1/audit", params={"subject": loose["id"]})).json()["items"]
    assert {e["data"]["for"] for e in audit if e["action"] == "request.vote"} == {None, "cy"}


async def test_an_escalation_widens_the_voters_from_names(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], database_url: str
) -> None:
    ana, bo, _cy = await voters(client, client_for, "ana", "bo", "cy")
    request = await quorum_request(
        client,
        approval={"min": 2, "from": {"assignees": ["ana", "cy"]}},
        on_timeout={"action": "escalate", "to": {"assignees": ["bo"]}, "extend_seconds": 3600},
    )
    assert (await respond(ana, request["id"], APPROVE)).json()["state"] == "pending"
    assert (await respond(bo, request["id"], APPROVE)).status_code == 403  # not yet
    await deadline_passes(database_url, request["id"])
    escalated = await until_request(client, request["id"], lambda r: r["escalations"] == 1)
    assert escalated["approval"]["from"]["assignees"] == ["ana", "cy", "bo"]
    r = await respond(bo, request["id"], APPROVE)
    assert r.status_code == 200 and r.json()["state"] == "responded", r.text
    assert [v["by"] for v in r.json()["response"]["votes"]] == ["ana", "bo"]


async def test_an_external_request_takes_votes(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana, bo, _cy = await voters(client, client_for, "ana", "bo", "cy")
    body: dict[str, Any] = {
        "workflow_id": "wf-quorum",
        "context": {"q": "ship?"},
        "approval": {"min": 2, "from": {"assignees": ["ana", "bo", "cy"]}},
    }
    for bad, loc, said in (
        ({"min": 2, "from": {"assignees": ["ana", "nobody"]}}, ["from", "assignees", 1], "nobody"),
        ({"min": 4, "from": {"assignees": ["ana", "bo", "cy"]}}, ["min"], "only 3 people"),
        ({"min": 2, "from": {}}, ["from"], "at least one"),
        ({"min": 2, "veto": "sometimes"}, ["veto"], "any_reject"),
    ):
        r = await client.post("/api/v1/requests", json={**body, "approval": bad})
        assert r.status_code == 422, r.text
        [problem] = r.json()["detail"]
        assert problem["loc"][:2] == ["body", "approval"] and problem["loc"][2:] == loc, problem
        assert said in problem["msg"]
    r = await client.post(
        "/api/v1/requests", json={**body, "approval": body["approval"], "on_behalf_of": "cy"}
    )
    assert r.status_code == 201  # two may still approve
    created = (await client.post("/api/v1/requests", json=body)).json()
    assert created["approval"]["from"]["assignees"] == ["ana", "bo", "cy"]
    assert created["assignees"] == ["ana", "bo", "cy"]  # routed to its voters
    assert (await respond(ana, created["id"], "approve")).json()["state"] == "pending"
    r = await respond(bo, created["id"], "approve")
    assert r.json()["state"] == "responded", r.text
    waited = (await client.get(f"/api/v1/requests/{created['id']}/wait")).json()
    assert waited["response"]["decision"] == "approve"
    assert [v["by"] for v in waited["response"]["votes"]] == ["ana", "bo"]
