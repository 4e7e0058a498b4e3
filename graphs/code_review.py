"""The ``code_review`` pipeline: analyse a diff, ask a person when it is risky, test, ask
again before deploying, deploy.

::

    START -> analyze -+-(risk high)--> human_review -+-(approve)--> run_tests
                      |                              +-(reject / request_changes)--> END
                      +-(low/medium)-----------------------------> run_tests
    run_tests -+-(passed)--> deploy_approval -+-(approve)--> deploy --> END
               +-(failed)--> END              +-(reject)--> END

Every path ends with ``outcome`` (``deployed | rejected | changes_requested | tests_failed``)
and a ``reason`` sentence. Risk is "high" from a score of 50 (`nodes.analysis.HIGH_RISK_SCORE`).

Durability is ``async``: steps are checkpointed in the background, which is safe here because
the only steps that matter to people (the interrupts and the end) are always saved before the
service records them, and ``run_tests`` re-running after a crash is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from hitl.registry import register_graph
from nodes import analysis, approval, deploy, testing

Outcome = Literal["deployed", "rejected", "changes_requested", "tests_failed"]
MAX_DIFF_CHARS = 2_000_000


class ReviewInput(BaseModel):
    """What starts a review: the diff, and optionally how to test it and what to call it."""

    diff: str = Field(min_length=1, max_length=MAX_DIFF_CHARS, description="Unified diff text.")
    test_command: str | None = Field(
        default=None,
        max_length=4_000,
        description="Shell command run in a temporary folder holding change.diff; "
        "without one, a built-in check that the diff is well-formed runs.",
    )
    test_timeout_seconds: float = Field(
        default=testing.DEFAULT_TIMEOUT_SECONDS,
        ge=1,
        le=600,
        description="Time limit for test_command; running over counts as a failure.",
    )
    title: str | None = Field(default=None, max_length=300)
    author: str | None = Field(default=None, max_length=200)


class ReviewState(TypedDict, total=False):
    """The thread's state: plain JSON values only, since the service returns it over HTTP."""

    diff: str
    test_command: str | None
    test_timeout_seconds: float
    title: str | None
    author: str | None
    analysis: dict[str, Any]  # nodes.analysis.Analysis.to_dict()
    review: dict[str, Any] | None  # ReviewDecision, when a person reviewed
    tests: dict[str, Any] | None  # nodes.testing.RunResult
    deploy_decision: dict[str, Any] | None  # DeployDecision
    deployment: dict[str, Any] | None  # nodes.deploy.Deployment
    outcome: Outcome | None
    reason: str | None


# A thread can be started again with a new diff: forget the previous run's results. Inputs the
# new run leaves out keep their old values (LangGraph writes only the keys given), so a re-run
# should pass every input, e.g. ``ReviewInput(...).model_dump()``.
_FRESH_RUN: dict[str, Any] = {
    "review": None,
    "tests": None,
    "deploy_decision": None,
    "deployment": None,
    "outcome": None,
    "reason": None,
}


def analyze(state: ReviewState) -> dict[str, Any]:
    """Analyse the diff (`nodes.analysis`) and clear anything left from an earlier run."""
    return {**_FRESH_RUN, **analysis.analyze(state)}


def run_tests(state: ReviewState) -> dict[str, Any]:
    """Run the tests (`nodes.testing`); a failure ends the thread as ``tests_failed``."""
    update = testing.run_tests(state)
    result = update["tests"]
    if not result["passed"]:
        update["outcome"] = "tests_failed"
        update["reason"] = _failure_reason(result, state)
    return update


def _failure_reason(result: Mapping[str, Any], state: ReviewState) -> str:
    command = result.get("command")
    if command is None:
        lines = result["output"].splitlines()  # "diff check failed (...):", "- problem", ...
        detail = lines[1].removeprefix("- ") if len(lines) > 1 else "the diff is not well-formed"
        return f"The built-in diff check failed: {detail}."
    if result.get("timed_out"):
        limit = state.get("test_timeout_seconds") or testing.DEFAULT_TIMEOUT_SECONDS
        return f"The tests timed out: `{command}` ran longer than {limit:g}s and was killed."
    return f"The tests failed: `{command}` exited with code {result['exit_code']}."


def after_analysis(state: ReviewState) -> str:
    high = state["analysis"]["risk_level"] == "high"
    return "human_review" if high else "run_tests"


def unless_finished(next_node: str) -> Callable[[ReviewState], str]:
    """A router that ends the thread once a node has set ``outcome``, else goes on."""

    def route(state: ReviewState) -> str:
        return END if state.get("outcome") else next_node

    route.__name__ = f"to_{next_node}_unless_finished"
    return route


@register_graph("code_review", durability="async")
def code_review() -> StateGraph[Any]:
    """Review a diff: risk analysis, human review when risky, tests, deploy approval, deploy."""
    builder = StateGraph(ReviewState, input_schema=ReviewInput)
    builder.add_node("analyze", analyze)
    builder.add_node("human_review", approval.human_review)
    builder.add_node("run_tests", run_tests)
    builder.add_node("deploy_approval", approval.deploy_approval)
    builder.add_node("deploy", deploy.deploy)

    builder.add_edge(START, "analyze")
    builder.add_conditional_edges("analyze", after_analysis, ["human_review", "run_tests"])
    builder.add_conditional_edges("human_review", unless_finished("run_tests"), ["run_tests", END])
    builder.add_conditional_edges(
        "run_tests", unless_finished("deploy_approval"), ["deploy_approval", END]
    )
    builder.add_conditional_edges("deploy_approval", unless_finished("deploy"), ["deploy", END])
    builder.add_edge("deploy", END)
    return builder
