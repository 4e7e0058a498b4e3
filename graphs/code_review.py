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

A client's input chooses no program: ``test_profile`` may only name one of the test profiles
the operator gave the graph (`nodes.testing`); without one the built-in diff check runs.

Durability is ``async``: steps are checkpointed in the background, which is safe here because
the only steps that matter to people (the interrupts and the end) are always saved before the
service records them, and ``run_tests`` re-running after a crash is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Literal, TypedDict, cast

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hitl.registry import register_graph
from nodes import analysis, approval, deploy, testing

Outcome = Literal["deployed", "rejected", "changes_requested", "tests_failed"]
MAX_DIFF_CHARS = 2_000_000


def _list_offered_profiles(schema: dict[str, Any], model: type[Any]) -> None:
    """Name the accepted profiles in the JSON Schema, so a client can see them (``GET
    /api/v1/graphs``)."""
    schema["properties"]["test_profile"]["enum"] = [*getattr(model, "offered_profiles", ()), None]


class ReviewInput(BaseModel):
    """What starts a review: the diff, and optionally which test profile to run and what to call
    it. Unknown fields are refused, so a client cannot slip in anything the graph would read.

    ``offered_profiles`` are the names of the operator's test profiles this graph runs
    (`review_input` makes the class for a set of them); any other ``test_profile`` is refused
    when the thread is created, before anything is stored.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_list_offered_profiles)

    offered_profiles: ClassVar[tuple[str, ...]] = ()

    diff: str = Field(min_length=1, max_length=MAX_DIFF_CHARS, description="Unified diff text.")
    test_profile: str | None = Field(
        default=None,
        max_length=64,
        description="The name of a test profile the service's operator configured; it runs in "
        "a temporary folder holding change.diff. Without one, a built-in check that the diff "
        "is well-formed runs.",
    )
    title: str | None = Field(default=None, max_length=300)
    author: str | None = Field(default=None, max_length=200)

    @field_validator("test_profile")
    @classmethod
    def _offered(cls, name: str | None) -> str | None:
        if name is None or name in cls.offered_profiles:
            return name
        offered = ", ".join(cls.offered_profiles) or "none is configured"
        raise ValueError(f"unknown test profile {name!r} (offered: {offered})")


def review_input(profiles: Iterable[str]) -> type[ReviewInput]:
    """The input schema of a ``code_review`` graph offering these test profiles."""

    namespace = {"__module__": __name__, "offered_profiles": tuple(sorted(profiles))}
    return cast(type[ReviewInput], type("ReviewInput", (ReviewInput,), namespace))


class ReviewState(TypedDict, total=False):
    """The thread's state: plain JSON values only, since the service returns it over HTTP."""

    diff: str
    test_profile: str | None
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


def tests_node(profiles: testing.Profiles) -> Callable[[ReviewState], dict[str, Any]]:
    """The ``run_tests`` node over the operator's ``profiles`` (`nodes.testing`); a failure ends
    the thread as ``tests_failed``."""

    def run_tests(state: ReviewState) -> dict[str, Any]:
        update = testing.run_tests(state, profiles)
        result = update["tests"]
        if not result["passed"]:
            update["outcome"] = "tests_failed"
            update["reason"] = failure_reason(result, profiles)
        return update

    return run_tests


def failure_reason(result: Mapping[str, Any], profiles: testing.Profiles) -> str:
    """The sentence a failed `nodes.testing.RunResult` ends the thread with."""
    name, command = result.get("profile"), result.get("command")
    if name is None:
        lines = result["output"].splitlines()  # "diff check failed (...):", "- problem", ...
        detail = lines[1].removeprefix("- ") if len(lines) > 1 else "the diff is not well-formed"
        return f"The built-in diff check failed: {detail}."
    if name not in profiles:
        return f"The test profile {name!r} is not configured on this service; nothing ran."
    if result.get("timed_out"):
        limit = profiles[name].timeout_seconds
        return f"The tests timed out: `{command}` ran longer than {limit:g}s and was killed."
    if result.get("exit_code") is None:
        return f"The tests could not start: {result['output']}."
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
def code_review(test_profiles: testing.Profiles | None = None) -> StateGraph[Any]:
    """Review a diff: risk analysis, human review when risky, tests, deploy approval, deploy.

    ``test_profiles`` are the test profiles a client may name in ``test_profile``; by default
    those of the ``HITL_TEST_PROFILES`` setting. To offer profiles defined in code, register
    the graph again with them, in a module listed in ``HITL_GRAPHS`` after ``graphs``::

        default_registry.register(
            "code_review",
            lambda: code_review(test_profiles={"unit": testing.Profile(argv=["make", "test"])}),
        )
    """
    profiles = dict(testing.configured_profiles() if test_profiles is None else test_profiles)
    builder = StateGraph(ReviewState, input_schema=review_input(profiles))
    builder.add_node("analyze", analyze)
    builder.add_node("human_review", approval.human_review)
    builder.add_node("run_tests", tests_node(profiles))
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
