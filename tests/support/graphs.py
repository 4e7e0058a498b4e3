"""Small graphs the tests drive through the service. ``HITL_GRAPHS=graphs,tests.support.graphs``.

Nodes append a line per execution to ``input["counter_file"]`` when it is given, so a test can
count how often each node really ran, whichever process ran it.
"""

from __future__ import annotations

import asyncio
import operator
import os
import threading
import time
import uuid
from typing import Annotated, Any, ClassVar, Literal, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.config import get_config, get_stream_writer
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from psycopg import AsyncConnection
from pydantic import BaseModel

import hitl
from hitl import register_graph


class Approval(BaseModel):
    decision: Literal["approve", "reject"]
    comment: str | None = None


class State(TypedDict, total=False):
    counter_file: str
    fail: bool
    log: Annotated[list[Any], operator.add]


class Input(TypedDict, total=False):
    counter_file: str
    fail: bool


def count(state: State, node: str) -> None:
    if path := state.get("counter_file"):
        with open(path, "a") as f:
            f.write(node + "\n")


def ask(state: State) -> dict[str, Any]:
    count(state, "ask")
    answer = interrupt({"question": "approve?"}, response_schema=Approval)
    return {"log": [["ask", answer.decision]]}


def after(state: State) -> dict[str, Any]:
    count(state, "after")
    if state.get("fail"):
        raise RuntimeError("boom: the node failed on purpose")
    return {"log": [["after"]]}


@register_graph("approval", description="One approval, then one more node.")
def approval() -> StateGraph[Any]:
    g = StateGraph(State, input_schema=Input)
    g.add_node("ask", ask)
    g.add_node("after", after)
    g.add_edge(START, "ask")
    g.add_edge("ask", "after")
    return g


def left(state: State) -> dict[str, Any]:
    count(state, "left")
    return {"log": [["left", interrupt({"side": "left"})]]}


def right(state: State) -> dict[str, Any]:
    count(state, "right")
    answer = interrupt({"side": "right"}, response_schema=Approval)
    return {"log": [["right", answer.decision]]}


@register_graph("parallel", description="Two interrupts at once in parallel branches.")
def parallel() -> StateGraph[Any]:
    g = StateGraph(State, input_schema=Input)
    g.add_node("left", left)
    g.add_node("right", right)
    g.add_node("after", after)
    g.add_edge(START, "left")
    g.add_edge(START, "right")
    g.add_edge(["left", "right"], "after")
    return g


def left_may_fail(state: State) -> dict[str, Any]:
    count(state, "left")
    if interrupt({"side": "left"}) == "fail":
        raise RuntimeError("boom: answered 'fail'")
    return {"log": [["left"]]}


@register_graph(
    "parallel_failing",
    description="Two interrupts at once; answering the left one 'fail' fails the thread.",
)
def parallel_failing() -> StateGraph[Any]:
    g = StateGraph(State, input_schema=Input)
    g.add_node("left", left_may_fail)
    g.add_node("right", right)
    g.add_node("after", after)
    g.add_edge(START, "left")
    g.add_edge(START, "right")
    g.add_edge(["left", "right"], "after")
    return g


# -- answers that come while a run runs: ``left`` asks and, once answered, holds its run at a
# `Gate` the test opens; ``right`` asks only while ``right_file`` does not exist, so a test can
# make its interrupt go away in the run that resumes ``left``.


class Gate:
    """Two events a node and a test share (the service runs in the test's process)."""

    open_gates: ClassVar[dict[str, Gate]] = {}

    def __init__(self) -> None:
        self.name = f"gate-{len(self.open_gates)}-{id(self)}"
        self.reached = threading.Event()  # the node is at the gate
        self.opened = threading.Event()  # the test lets it through
        self.open_gates[self.name] = self


class GatedState(TypedDict, total=False):
    gate: str
    right_file: str
    log: Annotated[list[Any], operator.add]


def gated_left(state: GatedState) -> dict[str, Any]:
    answer = interrupt({"side": "left"})
    gate = Gate.open_gates[state["gate"]]
    gate.reached.set()
    if not gate.opened.wait(60):
        raise TimeoutError("the test did not open the gate")
    return {"log": [["left", answer]]}


def gated_right(state: GatedState) -> dict[str, Any]:
    if os.path.exists(state["right_file"]):
        return {"log": [["right", "not asked"]]}
    answer = interrupt({"side": "right"}, response_schema=Approval)
    return {"log": [["right", answer.decision]]}


def gated_after(state: GatedState) -> dict[str, Any]:
    return {"log": [["after"]]}


@register_graph("gated", description="Two interrupts; the left one's run waits at a gate.")
def gated() -> StateGraph[Any]:
    g = StateGraph(GatedState)
    g.add_node("left", gated_left)
    g.add_node("right", gated_right)
    g.add_node("after", gated_after)
    g.add_edge(START, "left")
    g.add_edge(START, "right")
    g.add_edge(["left", "right"], "after")
    return g


def crash(state: State) -> dict[str, Any]:
    count(state, "crash")
    raise ValueError("this graph always fails")


@register_graph("failing", description="Fails in its first node.")
def failing() -> StateGraph[Any]:
    g = StateGraph(State, input_schema=Input)
    g.add_node("crash", crash)
    g.add_edge(START, "crash")
    return g


# -- deadlines: an interrupt whose value carries the input's ``terms`` (assignees,
# assigned_groups, timeout_seconds, on_timeout, reminders); the node logs what it was resumed
# with. ``typed`` makes the response schema a pydantic model (LangGraph validates the resume
# value); otherwise it is the same schema as a plain JSON Schema (not validated by LangGraph,
# so an expiry marker reaches the node).

APPROVAL_SCHEMA = Approval.model_json_schema()


class TimedState(TypedDict, total=False):
    terms: dict[str, Any]
    typed: bool
    log: Annotated[list[Any], operator.add]


def timed_ask(state: TimedState) -> dict[str, Any]:
    value = {"question": "approve?", **state.get("terms", {})}
    answer = interrupt(value, response_schema=Approval if state.get("typed") else APPROVAL_SCHEMA)
    return {"log": [answer.model_dump() if isinstance(answer, BaseModel) else answer]}


def _timed() -> StateGraph[Any]:
    g = StateGraph(TimedState)
    g.add_node("ask", timed_ask)
    g.add_edge(START, "ask")
    return g


@register_graph("timed", description="One approval whose value carries the input's terms.")
def timed() -> StateGraph[Any]:
    return _timed()


@register_graph(
    "timed_defaults",
    description="The same, with assignment and deadline defaults at registration.",
    assignees=["ana"],
    groups=["reviewers"],
    timeout_seconds=3600,
    on_timeout={"action": "escalate", "to": {"groups": ["leads"]}, "extend_seconds": 60},
    reminders=[0.25],
)
def timed_defaults() -> StateGraph[Any]:
    return _timed()


# -- a run that takes the time its input says: ``slow`` sleeps (cancellably), then asks ----------


class SlowState(TypedDict, total=False):
    seconds: float
    log: Annotated[list[Any], operator.add]


async def slow_step(state: SlowState) -> dict[str, Any]:
    await asyncio.sleep(state.get("seconds", 0))
    return {"log": [["slow", state.get("seconds", 0)]]}


def slow_ask(state: SlowState) -> dict[str, Any]:
    answer = interrupt({"question": "approve?"}, response_schema=Approval)
    return {"log": [["ask", answer.decision]]}


@register_graph("slow", description="Sleeps for the input's seconds, then asks.")
def slow() -> StateGraph[Any]:
    g = StateGraph(SlowState)
    g.add_node("slow", slow_step)
    g.add_node("ask", slow_ask)
    g.add_edge(START, "slow")
    g.add_edge("slow", "ask")
    return g


# -- a chat turn streamed: a chat model that streams its tokens, a progress note, then a question


class ChatState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]


async def talk(state: ChatState) -> dict[str, Any]:
    get_stream_writer()({"progress": "thinking"})
    model = GenericFakeChatModel(messages=iter([AIMessage("hello there, how can I help")]))
    reply = await model.ainvoke(state.get("messages", []))
    get_stream_writer()({"progress": "done"})
    return {"messages": [reply]}


def confirm(state: ChatState) -> dict[str, Any]:
    answer = interrupt({"question": "send it?"}, response_schema=Approval)
    return {"messages": [AIMessage(f"answer: {answer.decision}")]}


@register_graph("chatty", description="Streams a chat model's tokens, then asks.")
def chatty() -> StateGraph[Any]:
    g = StateGraph(ChatState)
    g.add_node("talk", talk)
    g.add_node("confirm", confirm)
    g.add_edge(START, "talk")
    g.add_edge("talk", "confirm")
    return g


# -- progress a person watches: a note, a wait for the test's go (``gate_file`` appears), a
# second note, then a question


class ProgressState(TypedDict, total=False):
    gate_file: str
    log: Annotated[list[Any], operator.add]


def progress_work(state: ProgressState) -> dict[str, Any]:
    write = get_stream_writer()
    write({"progress": "reading the diff"})
    for _ in range(1200):  # a minute at most
        if os.path.exists(state["gate_file"]):
            break
        time.sleep(0.05)
    else:
        raise TimeoutError("the test did not open the gate")
    write({"progress": "diff read"})
    return {"log": [["work"]]}


def progress_ask(state: ProgressState) -> dict[str, Any]:
    answer = interrupt({"question": "ship it?"}, response_schema=Approval)
    return {"log": [["ask", answer.decision]]}


@register_graph("progress", description="Reports progress, waits for a file, then asks.")
def progress() -> StateGraph[Any]:
    g = StateGraph(ProgressState)
    g.add_node("work", progress_work)
    g.add_node("ask", progress_ask)
    g.add_edge(START, "work")
    g.add_edge("work", "ask")
    return g


# -- side effects once per step (`hitl.effects`): ``ship`` runs after the answer and ships once,
# through `hitl.once` (``mode: external``: a line ``<key> <token>`` appended to
# ``effects_file`` per real call, the file standing for an external API) or
# `hitl.once_in_transaction` (``mode: transaction``: a row in ``hitl_test_effects``).


class EffectsState(TypedDict, total=False):
    mode: Literal["external", "transaction"]
    effects_file: str
    retry: bool
    log: Annotated[list[Any], operator.add]


def effects_ask(state: EffectsState) -> dict[str, Any]:
    answer = interrupt({"question": "ship?"}, response_schema=Approval)
    return {"log": [["ask", answer.decision]]}


async def effects_ship(state: EffectsState) -> dict[str, Any]:
    if state.get("mode") == "transaction":
        thread_id = get_config()["configurable"]["thread_id"]

        async def insert(conn: AsyncConnection[Any]) -> dict[str, Any]:
            key, token = str(hitl.effect_key("ship")), uuid.uuid4().hex
            # one creator at a time: concurrent CREATE ... IF NOT EXISTS can collide
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('hitl_test_effects'))")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS hitl_test_effects"
                " (thread_id text, key text, token text)"
            )
            await conn.execute(
                "INSERT INTO hitl_test_effects VALUES (%s, %s, %s)", (thread_id, key, token)
            )
            return {"key": key, "token": token}

        shipped = await hitl.once_in_transaction("ship", insert)
    else:

        def call() -> dict[str, Any]:
            key, token = str(hitl.effect_key("ship")), uuid.uuid4().hex
            with open(state["effects_file"], "a") as f:
                f.write(f"{key} {token}\n")
            return {"key": key, "token": token}

        shipped = await hitl.once("ship", call, retry_unfinished=bool(state.get("retry")))
    return {"log": [["ship", shipped]]}


@register_graph("effects", description="One approval, then one side effect, done once.")
def effects() -> StateGraph[Any]:
    g = StateGraph(EffectsState)
    g.add_node("ask", effects_ask)
    g.add_node("ship", effects_ship)
    g.add_edge(START, "ask")
    g.add_edge("ask", "ship")
    return g


# -- approvals (hitl/four_eyes.py, claims, comments, quorum): the interrupt value's terms come
# from the input, so a test can ask with any of them.


class TermsState(TypedDict, total=False):
    terms: dict[str, Any]
    log: Annotated[list[Any], operator.add]


def ask_with_terms(state: TermsState) -> dict[str, Any]:
    answer = interrupt(
        {"question": "approve?", **(state.get("terms") or {})}, response_schema=Approval
    )
    return {"log": [["ask", answer if isinstance(answer, dict) else answer.model_dump()]]}


def _terms_graph() -> StateGraph[Any]:
    g = StateGraph(TermsState)
    g.add_node("ask", ask_with_terms)
    g.add_edge(START, "ask")
    return g


@register_graph("terms", description="One approval whose interrupt value adds input['terms'].")
def terms() -> StateGraph[Any]:
    return _terms_graph()


@register_graph(
    "four_eyes",
    description="One approval; its registration forbids self-approval.",
    forbid_self_approval=True,
)
def four_eyes() -> StateGraph[Any]:
    return _terms_graph()


DECISION_SCHEMA = {
    "type": "object",
    "properties": {"decision": {"enum": ["approve", "reject"]}, "comment": {"type": "string"}},
    "required": ["decision"],
}


class VoteState(TermsState, total=False):
    schema: dict[str, Any]  # a response schema other than DECISION_SCHEMA


def vote_on(state: VoteState) -> dict[str, Any]:
    # a JSON Schema (not a model): the resume value reaches the node as it is, votes and all
    answer = interrupt(
        {"question": "ship?", **(state.get("terms") or {})},
        response_schema=state.get("schema") or DECISION_SCHEMA,
    )
    return {"log": [["decided", answer]]}


@register_graph(
    "quorum",
    description="One decision by two approving votes (any reject vetoes), or input['terms'];"
    " input['schema'] replaces its response schema.",
    approval={"min": 2},
)
def quorum() -> StateGraph[Any]:
    g = StateGraph(VoteState)
    g.add_node("vote_on", vote_on)
    g.add_edge(START, "vote_on")
    return g


# Tool-call reviews in the shapes of langchain's HumanInTheLoopMiddleware (batched) and of Agent
# Inbox, read back the way those consumers read them: an answer of the wrong shape fails here.

EMAIL_ARGS = {
    "type": "object",
    "properties": {"to": {"type": "string", "pattern": "@"}},
    "required": ["to"],
}


def review_batch_ask(state: State) -> dict[str, Any]:
    decisions = interrupt(
        {
            "action_requests": [
                {"name": "send_email", "args": {"to": "ana@example.com"}, "description": "Mail"},
                {"name": "book_room", "args": {"day": "mon"}},
            ],
            "review_configs": [
                {
                    "action_name": "send_email",
                    "allowed_decisions": ["approve", "edit", "reject"],
                    "args_schema": EMAIL_ARGS,
                },
                {"action_name": "book_room", "allowed_decisions": ["approve", "respond"]},
            ],
        }
    )["decisions"]
    if len(decisions) != 2:
        raise ValueError(f"{len(decisions)} decisions for 2 tool calls")
    done = []
    for decision in decisions:
        if decision["type"] == "edit":
            done.append(
                ["edit", decision["edited_action"]["name"], dict(decision["edited_action"]["args"])]
            )
        elif decision["type"] == "respond":
            done.append(["respond", decision["message"].strip()])
        else:
            done.append([decision["type"]])
    return {"log": done}


@register_graph("review_batch", description="Two tool calls reviewed in one batch.")
def review_batch() -> StateGraph[Any]:
    g = StateGraph(State)
    g.add_node("ask", review_batch_ask)
    g.add_edge(START, "ask")
    return g


def inbox_ask(state: State) -> dict[str, Any]:
    [response] = interrupt(
        [
            {
                "action_request": {"action": "send_email", "args": {"to": "ana@example.com"}},
                "config": {
                    "allow_accept": True,
                    "allow_edit": True,
                    "allow_respond": False,
                    "allow_ignore": True,
                },
                "description": "Send this mail?",
            }
        ]
    )
    if response["type"] == "edit":
        return {"log": [["edit", response["args"]["action"], dict(response["args"]["args"])]]}
    return {"log": [[response["type"]]]}


@register_graph("inbox", description="One Agent Inbox interrupt.")
def inbox() -> StateGraph[Any]:
    g = StateGraph(State)
    g.add_node("ask", inbox_ask)
    g.add_edge(START, "ask")
    return g


class OwnSchemaState(TypedDict, total=False):
    schema: Any
    log: Annotated[list[Any], operator.add]


def own_schema_ask(state: OwnSchemaState) -> dict[str, Any]:
    return {"log": [interrupt({"question": "?"}, response_schema=state["schema"])]}


@register_graph("own_schema", description="One interrupt with the response schema in its input.")
def own_schema() -> StateGraph[Any]:
    g = StateGraph(OwnSchemaState)
    g.add_node("ask", own_schema_ask)
    g.add_edge(START, "ask")
    return g


# -- Postgres lost under a run: ``cut`` ends every other session of the database the first time
# it runs (as a Postgres restart does), so the checkpoint written after it fails on a dead
# connection; ``counter_file`` counts its runs.


class CutState(TypedDict, total=False):
    counter_file: str
    dsn: str
    log: Annotated[list[Any], operator.add]


def _lines(path: str) -> list[str]:
    with open(path) as f:
        return f.read().split()


async def cut(state: CutState) -> dict[str, Any]:
    count(state, "cut")  # type: ignore[arg-type]
    if _lines(state["counter_file"]).count("cut") == 1:
        async with await AsyncConnection.connect(state["dsn"], autocommit=True) as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    return {"log": [["cut"]]}


def after_cut(state: CutState) -> dict[str, Any]:
    count(state, "after")  # type: ignore[arg-type]
    return {"log": [["after"]]}


@register_graph("cut_postgres", description="Ends the database's sessions in its first run.")
def cut_postgres() -> StateGraph[Any]:
    g = StateGraph(CutState)
    g.add_node("cut", cut)
    g.add_node("after", after_cut)
    g.add_edge(START, "cut")
    g.add_edge("cut", "after")
    return g
