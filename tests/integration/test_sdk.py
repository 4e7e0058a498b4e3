"""The client SDK against the in-process service (and, for the sync client, a mock transport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hitl import errors
from hitl.api import create_app
from hitl.config import Settings
from hitl.sdk import (
    ConflictError,
    HITLClient,
    HITLClientError,
    InvalidInputError,
    NotFoundError,
    SyncHITLClient,
    WaitTimeout,
)
from tests.support import auth


@pytest.fixture
async def hitl(client: httpx.AsyncClient) -> AsyncIterator[HITLClient]:
    async with HITLClient(http=client) as sdk:
        yield sdk


async def test_start_wait_answer_complete(hitl: HITLClient, client: httpx.AsyncClient) -> None:
    thread_id = await hitl.start_thread(
        "approval", {}, thread_id="sdk-1", metadata={"ticket": "T-1"}
    )
    assert thread_id == "sdk-1"
    thread = await hitl.wait(thread_id)
    assert thread["status"] == "interrupted"
    assert thread["metadata"] == {"ticket": "T-1"}
    [interrupt] = thread["interrupts"]
    assert interrupt["value"] == {"question": "approve?"}

    page = await hitl.list_requests(thread_id=thread_id, state="pending")
    [request] = page["items"]
    assert request["id"] == interrupt["request_id"]
    assert page["next_cursor"] is None
    assert await hitl.get_request(request["id"]) == request
    assert hitl.request_url(request["id"]) == f"http://hitl/requests/{request['id']}"

    answered = await hitl.respond(request["id"], {"decision": "approve", "comment": "ok"})
    assert answered["state"] == "responded"
    assert answered["responded_by"] == "key:tests"  # the API key's name

    thread = await hitl.wait(thread_id)
    assert thread["status"] == "completed"
    assert thread["values"]["log"] == [["ask", "approve"], ["after"]]
    assert (await hitl.get_thread(thread_id))["status"] == "completed"
    # the client passed in is not closed by the SDK client
    assert not client.is_closed


async def test_a_wrong_answer_raises_422_and_the_request_stays_pending(hitl: HITLClient) -> None:
    thread_id = await hitl.start_thread("approval", {})
    [interrupt] = (await hitl.wait(thread_id))["interrupts"]
    with pytest.raises(InvalidInputError) as caught:
        await hitl.respond(interrupt["request_id"], {"decision": "maybe"})
    error = caught.value
    assert error.status_code == 422
    assert isinstance(error, errors.InvalidInput)  # the framework's class, on this side too
    assert [e["loc"] for e in error.errors] == [["body", "response", "decision"]]
    assert "maybe" in str(error)
    assert (await hitl.get_request(interrupt["request_id"]))["state"] == "pending"


async def test_a_second_answer_raises_409_with_the_request_state(hitl: HITLClient) -> None:
    thread_id = await hitl.start_thread("approval", {})
    [interrupt] = (await hitl.wait(thread_id))["interrupts"]
    await hitl.respond(interrupt["request_id"], {"decision": "approve"})
    await hitl.wait(thread_id)
    with pytest.raises(ConflictError) as caught:
        await hitl.respond(interrupt["request_id"], {"decision": "reject"})
    assert caught.value.status_code == 409
    assert caught.value.state == "resumed"
    assert isinstance(caught.value, errors.Conflict)


async def test_errors_name_the_status_and_detail(hitl: HITLClient) -> None:
    with pytest.raises(NotFoundError) as not_found:
        await hitl.get_thread("missing")
    assert not_found.value.status_code == 404
    assert "missing" in str(not_found.value)
    assert isinstance(not_found.value, errors.NotFound)
    with pytest.raises(NotFoundError):
        await hitl.get_request("missing")
    with pytest.raises(NotFoundError):
        await hitl.wait("missing")
    with pytest.raises(NotFoundError, match="nope"):
        await hitl.start_thread("nope", {})

    await hitl.start_thread("approval", {}, thread_id="taken")
    with pytest.raises(ConflictError) as taken:
        await hitl.start_thread("approval", {}, thread_id="taken")
    assert taken.value.state is None  # not a request's conflict

    with pytest.raises(InvalidInputError) as invalid:
        await hitl.start_thread("code_review", {})
    assert invalid.value.errors[0]["loc"] == ["body", "input", "diff"]
    with pytest.raises(InvalidInputError):
        await hitl.list_requests(limit=500)  # FastAPI's own validation, same shape
    with pytest.raises(HITLClientError) as too_big:
        await hitl.start_thread("approval", {"counter_file": "x" * 1_100_000})
    assert too_big.value.status_code == 413


async def test_resume_answers_several_interrupts_at_once(hitl: HITLClient) -> None:
    thread_id = await hitl.start_thread("parallel", {})
    thread = await hitl.wait(thread_id)
    ids = {i["value"]["side"]: i["interrupt_id"] for i in thread["interrupts"]}
    with pytest.raises(InvalidInputError):
        await hitl.resume(thread_id, {ids["left"]: "L", ids["right"]: {"decision": "nope"}})
    answered = await hitl.resume(
        thread_id, {ids["left"]: "L", ids["right"]: {"decision": "reject"}}
    )
    assert {r["state"] for r in answered} == {"responded"}
    assert {r["responded_by"] for r in answered} == {"key:tests"}
    assert (await hitl.wait(thread_id))["status"] == "completed"


async def test_start_and_wait_and_resume_and_wait_return_the_thread_at_rest(
    hitl: HITLClient,
) -> None:
    thread = await hitl.start_and_wait("approval", {}, thread_id="sdk-waits", timeout=30)
    assert thread["thread_id"] == "sdk-waits"
    assert thread["status"] == "interrupted"
    [interrupt] = thread["interrupts"]
    with pytest.raises(InvalidInputError):
        await hitl.resume_and_wait("sdk-waits", {interrupt["interrupt_id"]: {"decision": "?"}})
    thread = await hitl.resume_and_wait(
        "sdk-waits", {interrupt["interrupt_id"]: {"decision": "reject"}}
    )
    assert thread["status"] == "completed"
    assert thread["values"]["log"] == [["ask", "reject"], ["after"]]
    with pytest.raises(ConflictError):
        await hitl.start_and_wait("approval", {}, thread_id="sdk-waits")


async def test_a_failed_thread_is_settled_too(hitl: HITLClient) -> None:
    thread = await hitl.wait(await hitl.start_thread("failing", {}))
    assert thread["status"] == "failed"
    assert thread["error"]["type"] == "ValueError"


async def test_iter_requests_follows_the_cursor_through_every_page(hitl: HITLClient) -> None:
    started = {await hitl.start_thread("approval", {}) for _ in range(5)}
    for thread_id in started:
        await hitl.wait(thread_id)
    page = await hitl.list_requests(graph="approval", state="pending", limit=2)
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    seen = [r async for r in hitl.iter_requests(graph="approval", state="pending", limit=2)]
    assert len(seen) == 5
    assert {r["thread_id"] for r in seen} == started
    assert [r async for r in hitl.iter_requests(graph="code_review")] == []


@pytest.fixture
async def idle_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The service with no runner: threads stay queued."""
    app = create_app(settings.model_copy(update={"runner": False}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hitl", headers=auth.BEARER
        ) as c,
    ):
        yield c


async def test_wait_raises_when_the_thread_does_not_settle_in_time(
    idle_client: httpx.AsyncClient,
) -> None:
    async with HITLClient(http=idle_client) as hitl:
        thread_id = await hitl.start_thread("approval", {})
        with pytest.raises(WaitTimeout) as caught:
            await hitl.wait(thread_id, timeout=0.5)
    assert caught.value.thread["status"] == "queued"
    assert caught.value.thread_id == thread_id


# -- the sync client: the same calls, checked on the wire ------------------------------------------


class _Recorder:
    """A mock service: records each request and answers from a script of responses."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self._responses = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._responses.pop(0)


def _sync(recorder: _Recorder) -> SyncHITLClient:
    http = httpx.Client(transport=httpx.MockTransport(recorder), base_url="http://svc:1/")
    return SyncHITLClient(http=http, api_key="hitl_bo")


def test_sync_client_sends_the_same_calls() -> None:
    request = {"id": "r1", "state": "responded"}
    recorder = _Recorder(
        httpx.Response(202, json={"thread_id": "t1", "status": "queued"}),
        httpx.Response(200, json={"thread_id": "t1", "status": "running"}),
        httpx.Response(200, json={"thread_id": "t1", "status": "interrupted"}),
        httpx.Response(200, json={"items": [{"id": "r1"}], "next_cursor": "c1"}),
        httpx.Response(200, json={"items": [{"id": "r2"}], "next_cursor": None}),
        httpx.Response(200, json=request),
        httpx.Response(202, json=[request]),
    )
    with _sync(recorder) as hitl:
        assert hitl.start_thread("g", {"a": 1}, metadata={"m": 2}) == "t1"
        assert hitl.wait("t1", timeout=60)["status"] == "interrupted"
        assert [r["id"] for r in hitl.iter_requests(state="pending", limit=1)] == ["r1", "r2"]
        assert hitl.respond("r1", {"decision": "approve"}) == request
        assert hitl.resume("t1", {"i1": "yes"}) == [request]
        assert hitl.request_url("r1") == "http://svc:1/requests/r1"

    sent = [(r.method, r.url.path, dict(r.url.params)) for r in recorder.requests]
    assert sent == [
        ("POST", "/api/v1/threads", {}),
        ("GET", "/api/v1/threads/t1/wait", {"timeout": sent[1][2]["timeout"]}),
        ("GET", "/api/v1/threads/t1/wait", {"timeout": sent[2][2]["timeout"]}),
        ("GET", "/api/v1/requests", {"state": "pending", "limit": "1"}),
        ("GET", "/api/v1/requests", {"state": "pending", "limit": "1", "cursor": "c1"}),
        ("POST", "/api/v1/requests/r1/respond", {}),
        ("POST", "/api/v1/threads/t1/resume", {}),
    ]
    assert 0 < float(sent[1][2]["timeout"]) <= 60
    bodies = [json.loads(r.content) for r in recorder.requests if r.method == "POST"]
    assert bodies == [
        {"graph": "g", "input": {"a": 1}, "metadata": {"m": 2}},
        {"response": {"decision": "approve"}},
        {"resume": {"i1": "yes"}},
    ]
    assert {r.headers["authorization"] for r in recorder.requests} == {"Bearer hitl_bo"}


def test_sync_waiting_calls_wait_in_the_call_then_long_poll_the_rest() -> None:
    recorder = _Recorder(
        httpx.Response(202, json={"thread_id": "t1", "status": "running"}),
        httpx.Response(200, json={"thread_id": "t1", "status": "interrupted"}),
        httpx.Response(200, json={"thread_id": "t1", "status": "completed"}),
    )
    with _sync(recorder) as hitl:
        assert hitl.start_and_wait("g", {}, timeout=60)["status"] == "interrupted"
        assert hitl.resume_and_wait("t1", {"i1": "yes"}, timeout=60)["status"] == "completed"

    sent = [(r.method, r.url.path, dict(r.url.params)) for r in recorder.requests]
    assert [s[:2] for s in sent] == [
        ("POST", "/api/v1/threads"),
        ("GET", "/api/v1/threads/t1/wait"),
        ("POST", "/api/v1/threads/t1/resume"),
    ]
    assert 0 < float(sent[0][2]["wait"]) <= 60
    assert 0 < float(sent[1][2]["timeout"]) <= 60
    assert 0 < float(sent[2][2]["wait"]) <= 60


@pytest.mark.parametrize(
    ("status", "detail", "kind", "state"),
    [
        (404, "thread 'x' not found", NotFoundError, None),
        (
            409,
            {"msg": "request 'r' is resumed, not pending", "state": "resumed"},
            ConflictError,
            "resumed",
        ),
        (422, [{"loc": ["body"], "msg": "bad", "type": "x"}], InvalidInputError, None),
        (503, "unavailable", HITLClientError, None),
    ],
)
def test_sync_client_raises_the_error_of_the_status(
    status: int, detail: Any, kind: type[HITLClientError], state: str | None
) -> None:
    with _sync(_Recorder(httpx.Response(status, json={"detail": detail}))) as hitl:
        with pytest.raises(kind) as caught:
            hitl.get_request("r")
    assert type(caught.value) is kind
    assert caught.value.status_code == status
    assert caught.value.detail == detail
    assert getattr(caught.value, "state", None) == state


def test_a_response_that_is_not_json_still_names_the_status() -> None:
    with _sync(_Recorder(httpx.Response(502, text="Bad Gateway"))) as hitl:
        with pytest.raises(HITLClientError) as caught:
            hitl.get_thread("t")
    assert caught.value.status_code == 502
    assert caught.value.detail == "Bad Gateway"


def test_ids_are_quoted_into_the_path() -> None:
    recorder = _Recorder(httpx.Response(200, json={"thread_id": "a/b"}))
    with _sync(recorder) as hitl:
        hitl.get_thread("a/b")
    assert recorder.requests[0].url.raw_path == b"/api/v1/threads/a%2Fb"


async def test_ask_for_a_quorum_returns_the_decision_and_the_votes(
    hitl: HITLClient, client: httpx.AsyncClient, client_for: Any
) -> None:
    from pydantic import BaseModel

    from tests.integration.test_answer_reassigned import signed_in

    class Vote(BaseModel):
        decision: str

    ana, bo = [await signed_in(client, client_for, name) for name in ("ana", "bo")]
    asking = asyncio.create_task(
        hitl.ask(
            "Ship 4.2?",
            response_model=Vote,
            priority="high",
            on_behalf_of="cy",
            approval={"min": 2, "from": {"assignees": ["ana", "bo"]}},
        )
    )
    for _ in range(600):
        if (page := await hitl.list_requests(state="pending"))["items"]:
            break
        await asyncio.sleep(0.05)
    [request] = page["items"]
    assert request["kind"] == "external"
    assert request["priority"] == "high" and request["on_behalf_of"] == "cy"
    for who in (ana, bo):
        r = await who.post(
            f"/api/v1/requests/{request['id']}/respond", json={"response": {"decision": "approve"}}
        )
        assert r.status_code == 200, r.text
    answer = await asyncio.wait_for(asking, 30)
    assert answer["decision"] == "approve" and answer["reason"] == "quorum"
    assert [v["by"] for v in answer["votes"]] == ["ana", "bo"]
