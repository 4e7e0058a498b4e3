"""LangGraph's own client, unchanged, against the service's Agent Server door (``/lg``): the
assistants, the threads, their states and histories, what it refuses and how.

The threads that wait on a person are started through ``/api/v1`` (the same threads), and
the official client (``langgraph_sdk``, async and sync) reads and manages them, as an inbox
or LangGraph Studio would.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import (
    AuthenticationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)

from hitl.launcher import ServiceProcess
from tests.support import auth
from tests.support.api import GRAPH_MODULES, pending

# The Agent Server's namespace of assistant ids (langgraph_api.graph.NAMESPACE_GRAPH),
# written out here rather than read from the code under test.
GRAPH_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


@pytest.fixture
def server(make_server: Callable[..., ServiceProcess]) -> ServiceProcess:
    served = make_server(HITL_GRAPHS=f"{GRAPH_MODULES},graphs.langchain_agent").start()
    served.wait_ready()
    return served


def lg(server: ServiceProcess, key: str | None = auth.ADMIN_KEY) -> LangGraphClient:
    return get_client(url=server.url + "/lg", api_key=key)


async def interrupted(
    http: httpx.AsyncClient, graph: str = "approval", input: Any = None, **extra: Any
) -> dict[str, Any]:
    """A thread started through /api/v1, once it waits on a person."""
    r = await http.post(
        "/api/v1/threads",
        params={"wait": 30},
        json={"graph": graph, "input": input or {}, **extra},
    )
    assert r.status_code == 200 and r.json()["status"] == "interrupted", r.text
    body: dict[str, Any] = r.json()
    return body


async def test_every_graph_is_an_assistant_with_the_agent_servers_id(
    server: ServiceProcess,
) -> None:
    client = lg(server)
    found = {a["graph_id"]: a for a in await client.assistants.search(limit=100)}
    assert {"approval", "parallel", "refund_agent"} <= set(found)
    approval = found["approval"]
    assert approval["assistant_id"] == str(uuid.uuid5(GRAPH_NAMESPACE, "approval"))
    assert approval["description"] == "One approval, then one more node."
    assert await client.assistants.get(approval["assistant_id"]) == approval
    assert await client.assistants.get("approval") == approval  # by graph id too
    [only] = await client.assistants.search(graph_id="approval")
    assert only == approval
    assert await client.assistants.count() == len(found)
    assert await client.assistants.count(graph_id="approval") == 1
    paged = await client.assistants.search(limit=1, offset=1, response_format="object")
    assert len(paged["assistants"]) == 1 and paged["next"] == "2"

    # the input as the service validates it, the state as LangGraph's channels hold it
    schemas = await client.assistants.get_schemas("code_review")
    assert schemas["graph_id"] == "code_review"
    assert {"diff", "title", "author"} <= set(schemas["input_schema"]["properties"])
    assert "diff" in schemas["state_schema"]["properties"]
    schemas = await client.assistants.get_schemas(approval["assistant_id"])
    assert set(schemas["state_schema"]["properties"]) == {"counter_file", "fail", "log"}
    assert schemas["input_schema"] is None  # a typing.TypedDict: pydantic makes no schema
    drawing = await client.assistants.get_graph("approval")
    assert {n["id"] for n in drawing["nodes"]} >= {"__start__", "ask", "after", "__end__"}
    assert {(e["source"], e["target"]) for e in drawing["edges"]} >= {("ask", "after")}
    assert (await client.assistants.get_graph("approval", xray=True))["nodes"]
    assert await client.assistants.get_subgraphs("approval") == {}

    with pytest.raises(NotFoundError, match="no_such_graph"):
        await client.assistants.get("no_such_graph")
    with pytest.raises(InternalServerError) as refused:  # 501, naming what is missing
        await client.assistants.create(graph_id="approval")
    assert refused.value.status_code == 501
    assert "every registered graph is one assistant" in str(refused.value)


async def test_an_inbox_finds_interrupted_threads_with_their_interrupts(
    server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> None:
    api = http(server.url)
    started = await interrupted(api, metadata={"team": "billing"})
    thread_id = started["thread_id"]
    [request] = await pending(api, thread_id)
    other = await interrupted(api, metadata={"team": "ops"})
    client = lg(server)

    inbox = await client.threads.search(status="interrupted", limit=10)
    assert {t["thread_id"] for t in inbox} == {thread_id, other["thread_id"]}
    [found] = [t for t in inbox if t["thread_id"] == thread_id]
    assert found["status"] == "interrupted"
    assert found["metadata"] == {
        "team": "billing",
        "graph_id": "approval",
        "assistant_id": str(uuid.uuid5(GRAPH_NAMESPACE, "approval")),
    }
    [[interrupt]] = found["interrupts"].values()
    assert interrupt["id"] == request["interrupt_id"]
    assert interrupt["value"] == {"question": "approve?"}
    assert interrupt["response_schema"]["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert found["values"] == started["values"]

    [billing] = await client.threads.search(metadata={"team": "billing"})
    assert billing["thread_id"] == thread_id
    assert len(await client.threads.search(metadata={"graph_id": "approval"})) == 2
    assert await client.threads.search(metadata={"graph_id": "parallel"}) == []
    assert await client.threads.count(status="interrupted") == 2
    assert await client.threads.count(status="busy") == 0
    assert await client.threads.count(metadata={"team": "ops"}) == 1
    assert [t["thread_id"] for t in await client.threads.search(ids=[thread_id])] == [thread_id]
    newest_first = await client.threads.search(sort_by="created_at", sort_order="desc")
    assert [t["thread_id"] for t in newest_first] == [other["thread_id"], thread_id]
    page = await client.threads.search(limit=1, select=["thread_id", "status"])
    assert page == [{"thread_id": other["thread_id"], "status": "interrupted"}]

    # the thread's state: values, the next node, its task with the interrupt, the checkpoint
    state = await client.threads.get_state(thread_id)
    assert state["next"] == ["ask"]
    [task] = state["tasks"]
    assert task["name"] == "ask"
    assert [i["id"] for i in task["interrupts"]] == [request["interrupt_id"]]
    assert [i["id"] for i in state["interrupts"]] == [request["interrupt_id"]]
    assert state["checkpoint"]["thread_id"] == thread_id
    assert state["checkpoint"]["checkpoint_ns"] == ""
    checkpoint_id = state["checkpoint"]["checkpoint_id"]
    assert await client.threads.get_state(thread_id, checkpoint_id=checkpoint_id) == state
    assert await client.threads.get_state(thread_id, checkpoint=state["checkpoint"]) == state

    history = await client.threads.get_history(thread_id, limit=10)
    assert history[0] == state
    assert len(history) >= 2  # the input, then the step that stopped at the interrupt
    assert history[1]["checkpoint"] == state["parent_checkpoint"]
    older = await client.threads.get_history(thread_id, limit=10, before=state["checkpoint"])
    assert older == history[1:]


async def test_messages_come_back_as_the_agent_server_writes_them(
    server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> None:
    """A LangChain agent's state holds messages: they come back as dicts with their type."""
    ask = {"messages": [{"type": "human", "content": "refund 120 EUR on order A-1001"}]}
    started = await interrupted(http(server.url), "refund_agent", ask)
    state = await lg(server).threads.get_state(started["thread_id"])
    human, ai = state["values"]["messages"]
    assert human["type"] == "human" and human["content"] == ask["messages"][0]["content"]
    assert ai["type"] == "ai"
    assert ai["tool_calls"][0]["name"] == "issue_refund"
    assert ai["tool_calls"][0]["args"] == {"order_id": "A-1001", "amount": 120.0}
    [[interrupt]] = (await lg(server).threads.get(started["thread_id"]))["interrupts"].values()
    assert interrupt["value"]["action_requests"][0]["name"] == "issue_refund"


async def test_threads_are_created_changed_and_deleted(
    server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> None:
    client = lg(server)
    empty = await client.threads.create(metadata={"owner": "ann"})
    assert empty["status"] == "idle"
    assert empty["metadata"] == {"owner": "ann"}
    assert empty["interrupts"] == {} and empty["values"] is None
    uuid.UUID(empty["thread_id"])  # a UUID when the caller names none
    assert await client.threads.get(empty["thread_id"]) == empty
    state = await client.threads.get_state(empty["thread_id"])
    assert (state["values"], state["next"], state["tasks"]) == ({}, [], [])
    assert await client.threads.get_history(empty["thread_id"]) == []
    assert await client.threads.count(status="idle") == 1

    # the caller's own id; taken, it raises, or gives the thread that has it
    mine = await client.threads.create(thread_id="ticket-42", graph_id="approval")
    assert mine["thread_id"] == "ticket-42"
    assert mine["metadata"]["graph_id"] == "approval"
    with pytest.raises(ConflictError, match="ticket-42"):
        await client.threads.create(thread_id="ticket-42")
    again = await client.threads.create(thread_id="ticket-42", if_exists="do_nothing")
    assert again == mine
    approval_state = await client.threads.get_state("ticket-42")  # its graph, no checkpoint yet
    assert (approval_state["values"], approval_state["next"]) == ({}, [])

    # metadata merges
    changed = await client.threads.update(empty["thread_id"], metadata={"owner": "bob", "n": 1})
    assert changed["metadata"] == {"owner": "bob", "n": 1}
    assert changed["updated_at"] >= empty["updated_at"]

    # deleting a thread takes its requests and checkpoints with it
    api = http(server.url)
    waiting = await interrupted(api)
    [request] = await pending(api, waiting["thread_id"])
    await client.threads.delete(waiting["thread_id"])
    with pytest.raises(NotFoundError, match=waiting["thread_id"]):
        await client.threads.get(waiting["thread_id"])
    with pytest.raises(NotFoundError):
        await client.threads.get_state(waiting["thread_id"])
    assert (await api.get(f"/api/v1/requests/{request['id']}")).status_code == 404
    assert (await api.get(f"/api/v1/threads/{waiting['thread_id']}")).status_code == 404
    with pytest.raises(NotFoundError):
        await client.threads.delete(waiting["thread_id"])

    # the empty thread reads through /api/v1 too
    r = await api.get(f"/api/v1/threads/{empty['thread_id']}")
    assert r.status_code == 200 and r.json()["graph"] is None and r.json()["status"] == "idle"

    # bad bodies: 422 naming the field, nothing made
    with pytest.raises(UnprocessableEntityError) as bad:
        await client.threads.search(status="sleeping")  # type: ignore[arg-type]
    assert _fields(bad.value) == [["body", "status"]]
    with pytest.raises(UnprocessableEntityError) as bad:
        await client.threads.create(thread_id="has spaces/and slashes")
    assert _fields(bad.value) == [["body", "thread_id"]]
    with pytest.raises(UnprocessableEntityError) as bad:
        await client.threads.update(empty["thread_id"], metadata="x")  # type: ignore[arg-type]
    assert _fields(bad.value) == [["body", "metadata"]]
    with pytest.raises(InternalServerError, match="supersteps"):
        await client.threads.create(supersteps=[{"updates": [{"values": {}, "as_node": "a"}]}])
    with pytest.raises(InternalServerError, match="crons"):
        await client.crons.create("approval", schedule="* * * * *")
    with pytest.raises(InternalServerError, match="store"):
        await client.store.get_item(["a"], "k")
    assert await client.threads.count() == 2


def _fields(error: UnprocessableEntityError) -> list[Any]:
    """Where a 422's problems are (the client keeps the body; its message is the status)."""
    assert isinstance(error.body, dict)
    return [problem["loc"] for problem in error.body["detail"]]


async def test_keys_and_scopes_at_the_door(
    server: ServiceProcess, http: Callable[[str], httpx.AsyncClient]
) -> None:
    api = http(server.url)
    started = await interrupted(api)
    reader_key = await auth.make_key(api, "threads:read", name="reader")
    reader = lg(server, reader_key)
    [found] = await reader.threads.search(status="interrupted")
    assert found["thread_id"] == started["thread_id"]
    with pytest.raises(PermissionDeniedError, match="threads:write"):
        await reader.threads.create()
    with pytest.raises(PermissionDeniedError, match="threads:write"):
        await reader.threads.delete(started["thread_id"])
    answerer = lg(server, await auth.make_key(api, "requests:answer", name="answerer"))
    with pytest.raises(PermissionDeniedError, match="threads:read"):
        await answerer.threads.search()
    with pytest.raises(AuthenticationError, match="unknown or revoked"):
        await lg(server, "hitl_nothere_" + "x" * 40).threads.search()
    with pytest.raises(AuthenticationError):
        await lg(server, None).assistants.search()
    async with httpx.AsyncClient(base_url=server.url) as nobody:
        assert (await nobody.get("/lg/ok")).json() == {"ok": True}
        info = (await nobody.get("/lg/info")).json()
        assert info["flags"]["assistants"] is True and info["flags"]["crons"] is False
        # the same key in x-api-key opens /api/v1 too
        r = await nobody.get("/api/v1/threads", headers={"x-api-key": reader_key})
        assert r.status_code == 200 and len(r.json()["items"]) == 1
    assert (await api.get(f"/api/v1/threads/{started['thread_id']}")).json()["status"] == (
        "interrupted"  # nothing the refused calls asked for happened
    )

    # the sync client, as a script uses it
    sync = get_sync_client(url=server.url + "/lg", api_key=reader_key)
    [again] = sync.threads.search(status="interrupted")
    assert again["thread_id"] == started["thread_id"]
    assert sync.threads.get_state(started["thread_id"])["next"] == ["ask"]
    assert sync.assistants.get("approval")["graph_id"] == "approval"
