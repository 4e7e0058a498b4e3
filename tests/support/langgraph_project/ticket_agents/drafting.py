"""A StateGraph builder, not compiled: the service compiles it."""

import os

from langgraph.graph import START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from ticket_agents.approval import Approval


class State(TypedDict, total=False):
    topic: str
    draft: str
    decision: str


def draft(state: State) -> State:
    return {"draft": f"On {state['topic']}, {os.environ['LGJSON_SIGNATURE']}"}


def approve(state: State) -> State:
    answer = interrupt(
        {"question": "Publish this draft?", "draft": state["draft"]}, response_schema=Approval
    )
    return {"decision": answer.decision}


builder = StateGraph(State)
builder.add_node("draft", draft)
builder.add_node("approve", approve)
builder.add_edge(START, "draft")
builder.add_edge("draft", "approve")
