"""Graphs the seed's agents (`examples.agent_chain`) run in the service to ask people.

The service imports them with ``HITL_GRAPHS=graphs,graphs.agent_chain`` (``graphs`` alone
leaves them out: they are for the agents, not for the inbox's example pipeline):

* ``agent_review``: one question, the ``code_review`` pipeline's ``human_review`` node (approve,
  reject or request changes, shown with the diff and the findings the agent computed);
* ``agent_deploy``: the ``deploy_approval`` node, then, when approved, the ``deploy`` node.

The agents do the rest themselves (the analysis, the tests) and chain through the event bus.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from hitl.registry import register_graph
from nodes import approval, deploy


class Change(TypedDict, total=False):
    """A change travelling the agents' chain (the data of its events)."""

    diff: str
    title: str | None
    author: str | None
    test_profile: str | None
    analysis: dict[str, Any]  # nodes.analysis.Analysis.to_dict()
    review: dict[str, Any] | None
    tests: dict[str, Any] | None
    deploy_decision: dict[str, Any] | None
    deployment: dict[str, Any] | None
    outcome: str | None
    reason: str | None


# The nodes take any mapping; LangGraph wants them typed with the state.
def _human_review(state: Change) -> dict[str, Any]:
    return approval.human_review(state)


def _deploy_approval(state: Change) -> dict[str, Any]:
    return approval.deploy_approval(state)


async def _deploy(state: Change) -> dict[str, Any]:
    return await deploy.deploy(state)


def _deploy_unless_rejected(state: Change) -> str:
    return END if state.get("outcome") else "deploy"


@register_graph("agent_review", description="A person reviews a risky change (CodeReviewAgent).")
def agent_review() -> StateGraph[Any]:
    builder = StateGraph(Change)
    builder.add_node("human_review", _human_review)
    builder.add_edge(START, "human_review")
    builder.add_edge("human_review", END)
    return builder


@register_graph("agent_deploy", description="A person approves a deployment (DeployAgent).")
def agent_deploy() -> StateGraph[Any]:
    builder = StateGraph(Change)
    builder.add_node("deploy_approval", _deploy_approval)
    builder.add_node("deploy", _deploy)
    builder.add_edge(START, "deploy_approval")
    builder.add_conditional_edges("deploy_approval", _deploy_unless_rejected, ["deploy", END])
    builder.add_edge("deploy", END)
    return builder
