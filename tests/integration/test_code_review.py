"""The example pipeline through the HTTP API: both human steps, and the low-risk path."""

from __future__ import annotations

import httpx

from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from tests.support.api import pending, respond, settle, start


async def test_high_risk_change_review_then_deploy_approval(client: httpx.AsyncClient) -> None:
    thread_id = await start(client, "code_review", {"diff": HIGH_RISK_DIFF, "title": "Drop users"})
    thread = await settle(client, thread_id)
    assert thread["status"] == "interrupted"

    [review] = await pending(client, thread_id)
    assert review["value"]["kind"] == "code_review"
    assert review["value"]["risk_level"] == "high"
    assert review["value"]["findings"]
    schema = review["response_schema"]
    assert schema["properties"]["decision"]["enum"] == ["approve", "reject", "request_changes"]

    r = await respond(
        client, review["id"], {"decision": "approve", "comment": "checked the migration"}
    )
    assert r.status_code == 200, r.text
    thread = await settle(client, thread_id)
    assert thread["status"] == "interrupted"
    [deploy] = await pending(client, thread_id)
    assert deploy["value"]["kind"] == "deploy_approval"
    assert deploy["response_schema"]["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert thread["values"]["tests"]["passed"] is True

    r = await respond(client, deploy["id"], {"decision": "approve"})
    assert r.status_code == 200, r.text
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed"
    assert thread["values"]["outcome"] == "deployed"
    assert thread["values"]["deployment"]["environment"] == "production"
    assert thread["values"]["review"]["comment"] == "checked the migration"
    states = {
        r["id"]: r["state"]
        for r in (await client.get("/api/v1/requests", params={"thread_id": thread_id})).json()[
            "items"
        ]
    }
    assert states == {review["id"]: "resumed", deploy["id"]: "resumed"}


async def test_low_risk_change_goes_straight_to_deploy_approval(client: httpx.AsyncClient) -> None:
    thread_id = await start(client, "code_review", {"diff": LOW_RISK_DIFF})
    thread = await settle(client, thread_id)
    [request] = thread["interrupts"]
    assert request["value"]["kind"] == "deploy_approval"
    assert thread["values"]["analysis"]["risk_level"] == "low"
    assert thread["values"]["test_timeout_seconds"] == 60  # the input schema's default

    r = await respond(client, request["request_id"], {"decision": "reject", "comment": "not today"})
    assert r.status_code == 200
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed"
    assert thread["values"]["outcome"] == "rejected"
    assert "not today" in thread["values"]["reason"]


async def test_request_changes_and_failing_tests_end_the_thread(client: httpx.AsyncClient) -> None:
    changes = await start(client, "code_review", {"diff": HIGH_RISK_DIFF})
    failing = await start(client, "code_review", {"diff": LOW_RISK_DIFF, "test_command": "exit 3"})

    [review] = (await settle(client, changes))["interrupts"]
    await respond(client, review["request_id"], {"decision": "request_changes"})
    assert (await settle(client, changes))["values"]["outcome"] == "changes_requested"

    thread = await settle(client, failing)
    assert thread["status"] == "completed"
    assert thread["values"]["outcome"] == "tests_failed"
    assert thread["values"]["tests"]["exit_code"] == 3
