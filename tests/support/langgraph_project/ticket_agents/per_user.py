"""A graph factory: the Agent Server calls it with the run's config, and so does the service."""

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from ticket_agents.approval import Approval


class State(TypedDict, total=False):
    request: str
    made_for: str
    decision: str


def make_graph(config: RunnableConfig):
    thread_id = config["configurable"]["thread_id"]

    def ask(state: State) -> State:
        answer = interrupt({"question": f"Grant {state['request']}?"}, response_schema=Approval)
        return {"decision": answer.decision, "made_for": thread_id}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    return builder.compile()
