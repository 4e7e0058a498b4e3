"""The chaos run's graph: two interrupts at once in parallel branches, each answer applied in a
side effect the graph records in its own table (``chaos_applied``, keyed by thread and node).

Each branch asks, then writes one row through `hitl.once_in_transaction`: the row commits with
the step's effect record, so a re-run of the step (a takeover, a resume re-running the node)
finds the record and writes nothing. A second row for one thread and node means the answer was
applied twice (a second run resumed it from elsewhere): the chaos run counts those, and must
count none. ``at`` is when the row committed, for the answer -> resumed-and-recorded latency.

A thread's input ``deadline_seconds`` gives the left interrupt a deadline whose default answers
it (``by: deadline``); the simulated people leave such requests alone.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langgraph.config import get_config
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt
from psycopg import AsyncConnection
from pydantic import BaseModel

import hitl
from hitl import register_graph

TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS chaos_applied (thread_id text NOT NULL, node text NOT NULL,"
    " decision text NOT NULL, by text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"
)
DEADLINE_ANSWER = {"decision": "approve", "by": "deadline"}


class ChaosAnswer(BaseModel):
    decision: Literal["approve", "reject"]
    by: str


class ChaosState(TypedDict, total=False):
    deadline_seconds: float
    log: Annotated[list[Any], operator.add]


async def _branch(state: ChaosState, side: str) -> dict[str, Any]:
    value: dict[str, Any] = {"side": side}
    if side == "left" and state.get("deadline_seconds"):
        value["timeout_seconds"] = state["deadline_seconds"]
        value["on_timeout"] = {"action": "default", "value": DEADLINE_ANSWER}
    answer = interrupt(value, response_schema=ChaosAnswer)
    thread_id = get_config()["configurable"]["thread_id"]

    async def apply(conn: AsyncConnection[Any]) -> str:
        await conn.execute(
            "INSERT INTO chaos_applied (thread_id, node, decision, by) VALUES (%s, %s, %s, %s)",
            (thread_id, side, answer.decision, answer.by),
        )
        return answer.decision

    await hitl.once_in_transaction(f"apply-{side}", apply)
    return {"log": [[side, answer.decision, answer.by]]}


async def left(state: ChaosState) -> dict[str, Any]:
    return await _branch(state, "left")


async def right(state: ChaosState) -> dict[str, Any]:
    return await _branch(state, "right")


def done(state: ChaosState) -> dict[str, Any]:
    return {"log": [["done"]]}


@register_graph("chaos_parallel", description="Two interrupts at once; each answer applied once.")
def chaos_parallel() -> StateGraph[Any]:
    g = StateGraph(ChaosState)
    g.add_node("left", left)
    g.add_node("right", right)
    g.add_node("done", done)
    g.add_edge(START, "left")
    g.add_edge(START, "right")
    g.add_edge(["left", "right"], "done")
    return g
