"""The ``code_review`` graph end to end, on LangGraph's in-memory checkpointer.

This checks the graph's own logic (routing, interrupts, outcomes); the service's tests run the
same graph on Postgres.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import is_invalid_resume
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Interrupt
from pydantic import TypeAdapter, ValidationError

import graphs
from graphs.code_review import ReviewInput, code_review, review_input
from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from hitl.registry import default_registry
from nodes.testing import Profile

Graph = CompiledStateGraph[Any, Any, Any, Any]
OUTCOMES = {"deployed", "rejected", "changes_requested", "tests_failed"}
# What an operator would configure; a client only names one.
PROFILES = {
    "passes": Profile(argv=["true"]),
    "exits-3": Profile(argv=[sys.executable, "-c", "raise SystemExit(3)"]),
    "slow": Profile(argv=["sleep", "5"], timeout_seconds=1),
}


class Thread:
    """One thread of the compiled graph, driven the way the service drives it."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}

    async def run(self, payload: Any) -> dict[str, Any]:
        result = await self.graph.ainvoke(payload, self.config, durability="async")
        assert json.loads(json.dumps(self.values())) == self.values()  # plain JSON state
        return result

    async def start(self, **inputs: Any) -> dict[str, Any]:
        return await self.run(inputs)

    async def answer(self, value: dict[str, Any]) -> dict[str, Any]:
        """Resume the pending interrupt by its id, as the service does."""
        return await self.run(Command(resume={self.pending().id: value}))

    def pending(self) -> Interrupt:
        (interrupt,) = self.graph.get_state(self.config).interrupts
        return interrupt

    def values(self) -> dict[str, Any]:
        return self.graph.get_state(self.config).values


@pytest.fixture
def thread() -> Thread:
    return Thread(code_review(test_profiles=PROFILES).compile(checkpointer=InMemorySaver()))


def assert_finished(thread: Thread, outcome: str) -> dict[str, Any]:
    state = thread.values()
    assert thread.graph.get_state(thread.config).next == ()
    assert state["outcome"] == outcome in OUTCOMES
    assert isinstance(state["reason"], str) and state["reason"]
    assert {"analysis", "review", "tests", "deploy_decision"} <= set(state)
    return state


def test_registered_as_an_uncompiled_builder() -> None:
    spec = default_registry.get("code_review")
    assert graphs.code_review.code_review is code_review
    assert spec.durability == "async"
    assert isinstance(spec.builder, StateGraph)
    assert issubclass(spec.builder.input_schema, ReviewInput)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "diff"),
        ({"diff": 5}, "diff"),
        ({"diff": ""}, "diff"),
        ({"diff": "x", "test_command": "env"}, "test_command"),  # a client names no program
        ({"diff": "x", "test_timeout_seconds": 600}, "test_timeout_seconds"),  # nor a time limit
        ({"diff": "x", "test_profile": "nope"}, "test_profile"),
        ({"diff": "x", "test_profile": ["true"]}, "test_profile"),
    ],
)
def test_invalid_input_is_refused(payload: dict[str, Any], field: str) -> None:
    adapter = TypeAdapter(review_input(PROFILES))
    with pytest.raises(ValidationError) as raised:
        adapter.validate_python(payload)
    assert [e["loc"][0] for e in raised.value.errors()] == [field]


def test_valid_input_gets_defaults() -> None:
    adapter = default_registry.get("code_review").input_adapter
    assert adapter is not None
    valid = adapter.validate_python({"diff": LOW_RISK_DIFF, "title": "Docs"})
    assert (valid.test_profile, valid.author) == (None, None)


def test_the_input_schema_offers_exactly_the_operators_profiles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offered = review_input(PROFILES).model_json_schema()["properties"]["test_profile"]["enum"]
    assert offered == ["exits-3", "passes", "slow", None]
    with pytest.raises(ValidationError, match=r"unknown test profile 'passes' \(offered: none"):
        review_input([]).model_validate({"diff": "x", "test_profile": "passes"})

    # Without profiles given in code, the graph offers those of the setting.
    monkeypatch.setenv("HITL_TEST_PROFILES", '{"unit": {"argv": ["make", "test"]}}')
    assert code_review().input_schema.offered_profiles == ("unit",)  # type: ignore[attr-defined]
    assert code_review(test_profiles={}).input_schema.offered_profiles == ()  # type: ignore[attr-defined]


async def test_high_risk_approved_tested_and_deployed(thread: Thread) -> None:
    await thread.start(diff=HIGH_RISK_DIFF, title="Drop users", author="mallory")
    review = thread.pending()
    assert review.value["kind"] == "code_review"
    assert review.value["title"] == "Drop users"
    assert (review.value["risk_level"], review.value["risk_score"]) == ("high", 100)
    assert review.value["diff"] == HIGH_RISK_DIFF
    assert {f["kind"] for f in review.value["findings"]} == {"sensitive_path", "secret"}
    assert isinstance(review.response_schema, dict)
    decision = review.response_schema["properties"]["decision"]
    assert decision["enum"] == ["approve", "reject", "request_changes"]

    await thread.answer({"decision": "approve", "comment": "migration reviewed"})
    approval = thread.pending()
    assert approval.value["kind"] == "deploy_approval"
    assert approval.value["tests"]["passed"] is True
    assert approval.value["risk_level"] == "high"
    assert isinstance(approval.response_schema, dict)
    assert approval.response_schema["properties"]["decision"]["enum"] == ["approve", "reject"]

    result = await thread.answer({"decision": "approve"})
    assert result["outcome"] == "deployed"
    state = assert_finished(thread, "deployed")
    assert state["review"] == {"decision": "approve", "comment": "migration reviewed"}
    assert state["deploy_decision"] == {"decision": "approve", "comment": None}
    assert state["deployment"]["environment"] == "production"
    assert state["deployment"]["id"] in state["reason"]


async def test_rejected_at_review(thread: Thread) -> None:
    await thread.start(diff=HIGH_RISK_DIFF)
    await thread.answer({"decision": "reject", "comment": "hard-coded credentials"})
    state = assert_finished(thread, "rejected")
    assert state["reason"] == "The reviewer rejected the change: hard-coded credentials"
    assert (state["tests"], state["deploy_decision"]) == (None, None)


async def test_changes_requested_at_review(thread: Thread) -> None:
    await thread.start(diff=HIGH_RISK_DIFF)
    await thread.answer({"decision": "request_changes"})
    state = assert_finished(thread, "changes_requested")
    assert state["reason"] == "The reviewer requested changes."
    assert state["review"] == {"decision": "request_changes", "comment": None}


async def test_low_risk_goes_straight_to_deploy_approval(thread: Thread) -> None:
    await thread.start(diff=LOW_RISK_DIFF)
    assert thread.pending().value["kind"] == "deploy_approval"
    assert thread.values()["review"] is None
    await thread.answer({"decision": "approve"})
    state = assert_finished(thread, "deployed")
    assert state["review"] is None and state["tests"]["command"] is None


async def test_rejected_at_deploy_approval(thread: Thread) -> None:
    await thread.start(diff=LOW_RISK_DIFF)
    await thread.answer({"decision": "reject", "comment": "code freeze"})
    state = assert_finished(thread, "rejected")
    assert state["reason"] == "Deployment to production was rejected: code freeze"
    assert "deployment" not in state or state["deployment"] is None


async def test_failing_test_profile_ends_the_thread(thread: Thread) -> None:
    result = await thread.start(diff=LOW_RISK_DIFF, test_profile="exits-3")
    assert "__interrupt__" not in result
    state = assert_finished(thread, "tests_failed")
    assert (state["tests"]["passed"], state["tests"]["exit_code"]) == (False, 3)
    assert state["tests"]["profile"] == "exits-3"
    assert state["reason"].startswith("The tests failed: `")
    assert state["reason"].endswith("raise SystemExit(3)'` exited with code 3.")


async def test_passing_test_profile(thread: Thread) -> None:
    await thread.start(diff=LOW_RISK_DIFF, test_profile="passes")
    tests = thread.pending().value["tests"]
    assert (tests["passed"], tests["command"], tests["exit_code"]) == (True, "true", 0)
    assert tests["profile"] == "passes"


async def test_a_profile_the_graph_does_not_offer_never_runs(thread: Thread) -> None:
    """LangGraph does not apply the input schema's validators: the node checks the name too."""
    await thread.start(diff=LOW_RISK_DIFF, test_profile="rm -rf /")
    state = assert_finished(thread, "tests_failed")
    assert (state["tests"]["command"], state["tests"]["exit_code"]) == (None, None)
    assert (
        state["reason"]
        == "The test profile 'rm -rf /' is not configured on this service; nothing ran."
    )


async def test_test_timeout_is_a_failure(thread: Thread) -> None:
    await thread.start(diff=LOW_RISK_DIFF, test_profile="slow")
    state = assert_finished(thread, "tests_failed")
    assert state["tests"]["timed_out"] is True and state["tests"]["duration_ms"] < 4000
    assert "ran longer than 1s" in state["reason"]


async def test_malformed_diff_is_reviewed_then_fails_the_builtin_check(thread: Thread) -> None:
    await thread.start(diff="this is not a diff")
    review = thread.pending()
    assert review.value["risk_level"] == "high"
    assert [f["kind"] for f in review.value["findings"]] == ["malformed"]
    await thread.answer({"decision": "approve"})
    state = assert_finished(thread, "tests_failed")
    assert state["reason"].startswith("The built-in diff check failed: no file headers")


async def test_invalid_answer_is_refused_and_the_interrupt_stays_answerable(
    thread: Thread,
) -> None:
    await thread.start(diff=HIGH_RISK_DIFF)
    before = thread.pending()
    with pytest.raises(ValidationError) as raised:
        await thread.answer({"decision": "maybe"})
    assert is_invalid_resume(raised.value)
    after = thread.pending()
    assert (after.id, after.value) == (before.id, before.value)
    assert thread.values().get("review") is None

    await thread.run(Command(resume={"decision": "reject"}))  # plain resume works too
    assert_finished(thread, "rejected")


async def test_a_new_run_on_the_same_thread_starts_fresh(thread: Thread) -> None:
    await thread.start(diff=LOW_RISK_DIFF, test_profile="exits-3")
    assert_finished(thread, "tests_failed")
    # Inputs not given keep their old values, so a re-run passes them all (defaults included).
    await thread.run(ReviewInput(diff=LOW_RISK_DIFF).model_dump())
    assert thread.pending().value["kind"] == "deploy_approval"
    state = thread.values()
    assert (state["outcome"], state["reason"], state["tests"]["passed"]) == (None, None, True)
