"""The example pipeline through the HTTP API: both human steps, the low-risk path, and the
test profiles the operator configures (a client only names one)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from graphs.code_review import code_review
from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from hitl.api import create_app
from hitl.config import Settings
from hitl.registry import GraphRegistry
from nodes.testing import Profile
from tests.support import auth
from tests.support.api import pending, respond, settle, start

# The profile prints what a leaked environment would show, and what it is meant to see.
SHOW_ENV = (
    "import os; print(sorted(os.environ)); print(os.environ.get('HITL_SMTP_PASSWORD')); "
    "print(open(os.environ['HITL_DIFF']).read() == open('change.diff').read(), os.environ['CI'])"
)
PROFILES = {
    "unit": Profile(argv=[sys.executable, "-c", SHOW_ENV], env={"CI": "1"}),
    "exits-3": Profile(argv=[sys.executable, "-c", "raise SystemExit(3)"]),
}


@pytest.fixture
async def operated(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The service with ``code_review`` registered the way an operator offers test profiles."""
    registry = GraphRegistry()
    registry.register("code_review", lambda: code_review(test_profiles=PROFILES))
    app = create_app(settings, registry)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hitl", headers=auth.BEARER
        ) as c,
    ):
        yield c


async def test_high_risk_change_review_then_deploy_approval(
    client: httpx.AsyncClient, database_url: str
) -> None:
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
    # the deploy went through hitl.once: recorded under the key the deploy tool was given
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT key::text, state, result FROM hitl_effects WHERE thread_id = %s", (thread_id,)
        )
        [(key, state, result)] = await cur.fetchall()
    assert (key, state) == (thread["values"]["deployment"]["idempotency_key"], "done")
    assert result == thread["values"]["deployment"]
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
    assert thread["values"]["test_profile"] is None  # the input schema's default
    assert thread["values"]["tests"]["output"].startswith("diff check: ")

    r = await respond(client, request["request_id"], {"decision": "reject", "comment": "not today"})
    assert r.status_code == 200
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed"
    assert thread["values"]["outcome"] == "rejected"
    assert "not today" in thread["values"]["reason"]


async def test_request_changes_and_failing_tests_end_the_thread(
    operated: httpx.AsyncClient,
) -> None:
    client = operated
    changes = await start(client, "code_review", {"diff": HIGH_RISK_DIFF})
    failing = await start(client, "code_review", {"diff": LOW_RISK_DIFF, "test_profile": "exits-3"})

    [review] = (await settle(client, changes))["interrupts"]
    await respond(client, review["request_id"], {"decision": "request_changes"})
    assert (await settle(client, changes))["values"]["outcome"] == "changes_requested"

    thread = await settle(client, failing)
    assert thread["status"] == "completed"
    assert thread["values"]["outcome"] == "tests_failed"
    assert thread["values"]["tests"]["exit_code"] == 3


async def stored_threads(client: httpx.AsyncClient) -> list[object]:
    r = await client.get("/api/v1/threads", params={"graph": "code_review"})
    assert r.status_code == 200, r.text
    items: list[object] = r.json()["items"]
    return items


@pytest.mark.parametrize(
    ("extra", "field", "type"),
    [
        ({"test_command": "env"}, "test_command", "extra_forbidden"),
        ({"test_timeout_seconds": 600}, "test_timeout_seconds", "extra_forbidden"),
        ({"test_profile": "env"}, "test_profile", "value_error"),
        ({"test_profile": "unit; env"}, "test_profile", "value_error"),
    ],
)
async def test_a_client_cannot_choose_what_runs(
    operated: httpx.AsyncClient, extra: dict[str, object], field: str, type: str
) -> None:
    body = {"graph": "code_review", "input": {"diff": LOW_RISK_DIFF, **extra}}
    r = await operated.post("/api/v1/threads", json=body)
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "input", field], type)
    if field == "test_profile":
        assert "unknown test profile" in error["msg"] and "exits-3, unit" in error["msg"]
    assert await stored_threads(operated) == []


async def test_an_operators_profile_runs_and_its_result_lands_in_the_thread(
    operated: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HITL_SMTP_PASSWORD", "smtp-secret-of-the-service")
    thread_id = await start(
        operated, "code_review", {"diff": LOW_RISK_DIFF, "test_profile": "unit"}
    )
    thread = await settle(operated, thread_id)
    [request] = thread["interrupts"]
    assert request["value"]["kind"] == "deploy_approval"
    tests = thread["values"]["tests"]
    assert (tests["profile"], tests["passed"], tests["exit_code"]) == ("unit", True, 0)
    names, password, rest = tests["output"].splitlines()
    assert names == str(sorted(["CI", "HITL_DIFF", "HOME", "LANG", "LC_ALL", "PATH"]))
    assert (password, rest) == ("None", "True 1")
    assert "smtp-secret" not in str(thread)
