"""The ``triage`` graph of the notebooks: analyse a diff, and let a person triage the risky ones.

::

    START -> analyze -+-(risk low)----------> auto_triage --> END
                      +-(risk medium/high)--> human_triage --> END

``human_triage`` pauses with ``interrupt(value, response_schema=TriageDecision)``: the value is
what the person reads, the pydantic model is the form they fill in. Whoever answers (a notebook
through ``Command(resume=...)``, or a person through the service) gets the same validation.

Not imported by ``graphs/__init__.py``: load it with ``HITL_GRAPHS=graphs,graphs.notebook_example``
(the notebooks do), or import it to register it in the default registry.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field

from hitl.registry import register_graph
from nodes import analysis, approval

Priority = Literal["p1", "p2", "p3"]
AUTO_PRIORITY: Priority = "p3"
AUTO_ASSIGNEE = "triage-bot"


class TriageInput(BaseModel):
    """A change to triage: its diff and, optionally, a title."""

    diff: str = Field(min_length=1, max_length=2_000_000, description="Unified diff text.")
    title: str | None = Field(default=None, max_length=300)


class TriageDecision(BaseModel):
    """A person's triage of a change: how urgent, who looks at it."""

    model_config = ConfigDict(extra="forbid")

    priority: Priority = Field(description="p1: today, p2: this week, p3: when there is time.")
    assignee: str = Field(min_length=1, max_length=100, description="Who reviews the change.")
    note: str | None = Field(default=None, max_length=approval.MAX_COMMENT_CHARS)


class TriageState(TypedDict, total=False):
    """Plain JSON values only, since the service returns the state over HTTP."""

    diff: str
    title: str | None
    analysis: dict[str, Any]  # nodes.analysis.Analysis.to_dict()
    triage: dict[str, Any]  # TriageDecision fields, plus ``by``: "person" or "auto"


def analyze(state: TriageState) -> dict[str, Any]:
    """Analyse the diff (`nodes.analysis`): writes ``analysis``."""
    return analysis.analyze(state)


def triage_question(state: TriageState) -> dict[str, Any]:
    """What the person is shown: the change's title, risk, findings and diff."""
    found = state["analysis"]
    return {
        "kind": "triage",
        "title": approval.title_of(state),
        "summary": found["summary"],
        "risk_level": found["risk_level"],
        "findings": [f["message"] for f in found["findings"]],
        "diff": state["diff"],
    }


def human_triage(state: TriageState) -> dict[str, Any]:
    """Ask a person to triage the change (no side effects before asking: it re-runs on resume)."""
    answer = approval.ask(triage_question(state), TriageDecision)
    return {"triage": {**answer.model_dump(), "by": "person"}}


def auto_triage(state: TriageState) -> dict[str, Any]:
    """Low-risk changes need nobody: lowest priority, the bot's queue."""
    return {"triage": {"priority": AUTO_PRIORITY, "assignee": AUTO_ASSIGNEE, "by": "auto"}}


def route(state: TriageState) -> str:
    return "auto_triage" if state["analysis"]["risk_level"] == "low" else "human_triage"


@register_graph("triage")
def triage() -> StateGraph[Any]:
    """Triage a diff: risky changes are triaged by a person, the rest automatically."""
    builder = StateGraph(TriageState, input_schema=TriageInput)
    builder.add_node("analyze", analyze)
    builder.add_node("human_triage", human_triage)
    builder.add_node("auto_triage", auto_triage)
    builder.add_edge(START, "analyze")
    builder.add_conditional_edges("analyze", route, ["auto_triage", "human_triage"])
    builder.add_edge("human_triage", END)
    builder.add_edge("auto_triage", END)
    return builder
