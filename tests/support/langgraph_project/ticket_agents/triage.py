"""A compiled graph with compile options: its own store and name (LangGraph's docs' way)."""

from langgraph.config import get_store
from langgraph.graph import START, StateGraph
from langgraph.store.memory import InMemoryStore
from langgraph.types import interrupt
from typing_extensions import TypedDict

from ticket_agents.approval import Approval


class State(TypedDict, total=False):
    ticket: str
    noted: str
    decision: str


def note(state: State) -> State:
    # the store is a compile option: served as compiled, the graph keeps it
    get_store().put(("tickets",), state["ticket"], {"seen": True})
    return {"noted": state["ticket"]}


def review(state: State) -> State:
    answer = interrupt({"question": f"Escalate {state['ticket']}?"}, response_schema=Approval)
    seen = get_store().get(("tickets",), state["ticket"])
    assert seen is not None and seen.value == {"seen": True}
    return {"decision": answer.decision}


workflow = StateGraph(State)
workflow.add_node("note", note)
workflow.add_node("review", review)
workflow.add_edge(START, "note")
workflow.add_edge("note", "review")
graph = workflow.compile(store=InMemoryStore(), name="ticket-triage")
