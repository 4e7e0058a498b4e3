"""Answers to tool-call reviews (langchain's HumanInTheLoopMiddleware in batched mode, Agent
Inbox) are checked by the answer path before they are stored (hitl/reviews.py): an answer the
graph would fail on when it resumes gets 422 naming the field, through every door, and the
request stays pending."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hitl.config import Settings
from tests.support.api import GRAPH_MODULES, pending, respond, settle, start

REFUND = {"messages": [{"type": "human", "content": "refund 120 EUR on order A-1001"}]}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """As the shared fixture, plus the LangChain agent (the real middleware)."""
    return settings.model_copy(update={"graphs": GRAPH_MODULES + ",graphs.langchain_agent"})


async def asked(client: httpx.AsyncClient, graph: str, input: dict[str, Any]) -> dict[str, Any]:
    thread_id = await start(client, graph, input)
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


async def refused(
    client: httpx.AsyncClient, request: dict[str, Any], answer: Any
) -> list[dict[str, Any]]:
    """The 422's problems for ``answer``, after checking that nothing changed."""
    r = await respond(client, request["id"], answer)
    assert r.status_code == 422, r.text
    shown = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert shown["state"] == "pending" and shown["response"] is None
    thread = (await client.get(f"/api/v1/threads/{request['thread_id']}")).json()
    assert thread["status"] == "interrupted"  # no run queued to apply it
    problems: list[dict[str, Any]] = r.json()["detail"]
    return problems


def locs(problems: list[dict[str, Any]]) -> list[list[Any]]:
    return [p["loc"] for p in problems]


RESPONSE = ["body", "response"]
DECISIONS = [*RESPONSE, "decisions"]


async def test_the_middleware_gets_only_answers_it_can_resume_with(
    client: httpx.AsyncClient,
) -> None:
    request = await asked(client, "refund_agent", REFUND)

    wrong_count = await refused(client, request, {"decisions": []})
    assert wrong_count == [
        {
            "loc": DECISIONS,
            "msg": "give one decision per action, in order: 1 (issue_refund), not 0",
            "type": "length",
        }
    ]
    two = {"decisions": [{"type": "approve"}, {"type": "approve"}]}
    assert locs(await refused(client, request, two)) == [DECISIONS]
    assert locs(await refused(client, request, {"approve": True})) == [DECISIONS]
    assert locs(await refused(client, request, [{"type": "approve"}])) == [RESPONSE]

    not_allowed = await refused(
        client, request, {"decisions": [{"type": "respond", "message": "no"}]}
    )
    assert not_allowed == [
        {
            "loc": [*DECISIONS, 0, "type"],
            "msg": "must be one of: approve, edit, reject (what 'issue_refund' allows)",
            "type": "enum",
        }
    ]
    text_args = {"type": "edit", "edited_action": {"name": "issue_refund", "args": "amount=90"}}
    problems = await refused(client, request, {"decisions": [text_args]})
    assert locs(problems) == [[*DECISIONS, 0, "edited_action", "args"]]
    no_action = await refused(client, request, {"decisions": [{"type": "edit"}]})
    assert locs(no_action) == [[*DECISIONS, 0, "edited_action"]]
    bad_reason = await refused(client, request, {"decisions": [{"type": "reject", "message": 3}]})
    assert locs(bad_reason) == [[*DECISIONS, 0, "message"]]

    # the Agent Server door's command.resume takes the same path
    r = await client.post(
        f"/lg/threads/{request['thread_id']}/runs",
        json={
            "assistant_id": "refund_agent",
            "command": {"resume": {"decisions": [{"type": "respond", "message": "no"}]}},
        },
    )
    assert r.status_code == 422, r.text
    assert locs(r.json()["detail"]) == [["body", "command", "resume", "decisions", 0, "type"]]
    assert [r["id"] for r in await pending(client, request["thread_id"])] == [request["id"]]

    args = {"order_id": "A-1001", "amount": 90}
    edit = {"type": "edit", "edited_action": {"name": "issue_refund", "args": args}}
    ok = await respond(client, request["id"], {"decisions": [edit]})
    assert ok.status_code == 200, ok.text
    thread = await settle(client, request["thread_id"])
    assert thread["status"] == "completed", thread
    assert "Refunded 90.00 EUR on order A-1001" in str(thread["values"])


async def test_each_decision_of_a_batch_is_checked_against_its_own_action(
    client: httpx.AsyncClient,
) -> None:
    request = await asked(client, "review_batch", {})

    problems = await refused(
        client,
        request,
        {
            "decisions": [
                {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "ana"}}},
                {"type": "edit", "edited_action": {"name": "book_room", "args": {}}},
            ]
        },
    )
    assert locs(problems) == [
        [*DECISIONS, 0, "edited_action", "args", "to"],  # the review config's args_schema
        [*DECISIONS, 1, "type"],  # book_room allows approve and respond
    ]
    no_message = await refused(
        client, request, {"decisions": [{"type": "approve"}, {"type": "respond", "message": " "}]}
    )
    assert no_message == [
        {"loc": [*DECISIONS, 1, "message"], "msg": "write the response", "type": "missing"}
    ]
    unnamed = {"type": "edit", "edited_action": {"name": "", "args": {"to": "b@example.com"}}}
    problems = await refused(client, request, {"decisions": [unnamed, {"type": "approve"}]})
    assert locs(problems) == [[*DECISIONS, 0, "edited_action", "name"]]

    # on the request page, an error the answer path found shows at its card's control
    page = await client.post(
        f"/requests/{request['id']}/answer",
        data={"card.0.type": "edit", "card.0.args.to": "nobody", "card.1.type": "approve"},
    )
    assert page.status_code == 422
    assert "&#39;nobody&#39; does not match &#39;@&#39;" in page.text

    good = {
        "decisions": [
            {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "b@x.org"}}},
            {"type": "respond", "message": "Booked it myself"},
        ]
    }
    assert (await respond(client, request["id"], good)).status_code == 200
    thread = await settle(client, request["thread_id"])
    assert thread["status"] == "completed", thread
    assert thread["values"]["log"] == [
        ["edit", "send_email", {"to": "b@x.org"}],
        ["respond", "Booked it myself"],
    ]


async def test_agent_inbox_responses_are_checked(client: httpx.AsyncClient) -> None:
    request = await asked(client, "inbox", {})

    assert locs(await refused(client, request, [])) == [RESPONSE]
    assert locs(await refused(client, request, {"type": "accept"})) == [RESPONSE]
    not_allowed = await refused(client, request, [{"type": "response", "args": "no"}])
    assert not_allowed == [
        {
            "loc": [*RESPONSE, 0, "type"],
            "msg": "must be one of: accept, edit, ignore (what 'send_email' allows)",
            "type": "enum",
        }
    ]
    text_args = [{"type": "edit", "args": {"action": "send_email", "args": "to=b"}}]
    assert locs(await refused(client, request, text_args)) == [[*RESPONSE, 0, "args", "args"]]
    bare = [{"type": "edit", "args": None}]
    assert locs(await refused(client, request, bare)) == [[*RESPONSE, 0, "args"]]

    edit = [{"type": "edit", "args": {"action": "send_email", "args": {"to": "b@x.org"}}}]
    assert (await respond(client, request["id"], edit)).status_code == 200
    thread = await settle(client, request["thread_id"])
    assert thread["status"] == "completed", thread
    assert thread["values"]["log"] == [["edit", "send_email", {"to": "b@x.org"}]]
