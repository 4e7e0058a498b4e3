"""The runner's decision (`hitl.runner.plan`) and how each answer ends (`hitl.runner.settle`).

Pure functions of the checkpoint and the gathered answers: no database, no graph run (except
one tiny in-memory graph, to get the error LangGraph raises for a refused answer)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import is_invalid_resume
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Interrupt, PregelTask, StateSnapshot, interrupt
from pydantic import BaseModel

from hitl.requests import GatheredResponse
from hitl.runner import Plan, is_fresh, plan, settle
from hitl.runs import ClaimedRun

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def claimed(kind: str = "resume", attempts: int = 1, run_id: int = 7, **fields: Any) -> ClaimedRun:
    return ClaimedRun.model_validate(
        {
            "id": run_id,
            "thread_id": "t1",
            "kind": kind,
            "input": {"question": "go?"},
            **fields,
            "status": "running",
            "attempts": attempts,
            "created_at": NOW,
            "graph": "g",
        }
    )


def answer(
    rid: str,
    interrupt_id: str,
    *,
    previous_run_id: int | None = None,
    deadline_action: str | None = None,
    response: Any = "yes",
) -> GatheredResponse:
    return GatheredResponse.model_validate(
        {
            "id": rid,
            "thread_id": "t1",
            "interrupt_id": interrupt_id,
            "state": "responded",
            "response": response,
            "deadline_action": deadline_action,
            "previous_run_id": previous_run_id,
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


def snapshot(
    *,
    interrupts: tuple[str, ...] = (),
    next: tuple[str, ...] = (),
    created: bool = True,
    written_by: str | None = None,
    tasks: tuple[PregelTask, ...] = (),
) -> StateSnapshot:
    return StateSnapshot(
        values={"n": 1},
        next=next,
        config={"configurable": {"thread_id": "t1"}},
        metadata={"hitl_run": written_by} if written_by else None,
        created_at=NOW.isoformat() if created else None,
        parent_config=None,
        tasks=tasks,
        interrupts=tuple(Interrupt(value="q", id=i) for i in interrupts),
    )


class _Answer(BaseModel):
    decision: str


class _State(TypedDict, total=False):
    decision: str


@pytest.fixture(scope="module")
def refused() -> Exception:
    """What LangGraph raises when an answer does not match the interrupt's response schema."""

    def ask(state: _State) -> _State:
        return {"decision": interrupt("approve?", response_schema=_Answer)["decision"]}

    builder = StateGraph(_State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t"}}
    graph.invoke({}, config)
    with pytest.raises(Exception) as raised:
        graph.invoke(Command(resume={"nope": 1}), config)
    assert is_invalid_resume(raised.value)
    return raised.value


# -- plan: the input ---------------------------------------------------------------------------


def test_a_new_threads_first_attempt_starts_with_the_runs_input() -> None:
    run = claimed("start")
    assert is_fresh(run)
    decided = plan(run, None, [], set())
    assert decided.graph_input == {"question": "go?"}
    assert decided.invokes and decided.apply == () and decided.closing == ()


def test_a_retried_start_without_a_checkpoint_starts_again() -> None:
    run = claimed("start", attempts=2)
    assert not is_fresh(run)
    decided = plan(run, snapshot(created=False), [], set())
    assert decided.graph_input == {"question": "go?"}


def test_answers_to_pending_interrupts_resume_the_graph() -> None:
    gathered = [answer("r1", "i1", response="a"), answer("r2", "i2", response="b")]
    decided = plan(claimed(), snapshot(interrupts=("i1", "i2")), gathered, {"i1", "i2"})
    assert isinstance(decided.graph_input, Command)
    assert decided.graph_input.resume == {"i1": "a", "i2": "b"}
    assert [r.id for r in decided.apply] == ["r1", "r2"]
    assert decided.invokes and decided.closing == ()


def test_a_run_that_died_between_two_steps_continues() -> None:
    decided = plan(claimed(), snapshot(next=("deploy",)), [], set())
    assert decided.graph_input is None and decided.invokes


def test_a_run_that_died_after_a_steps_writes_before_its_checkpoint_continues() -> None:
    # Found by the chaos run: the step's tasks saved their writes, the checkpoint after them was
    # never written (a SIGKILL, Postgres restarting). LangGraph leaves tasks with writes out of
    # `next`, so the checkpoint looked at rest and the thread was recorded completed with the
    # state before the step. Invoking with None applies the writes and goes on.
    ran = PregelTask(id="t-cut", name="cut", path=("__pregel_pull", "cut"), result={"n": 2})
    decided = plan(claimed(attempts=2), snapshot(tasks=(ran,)), [], set())
    assert decided.graph_input is None and decided.invokes


def test_a_finished_checkpoint_is_only_recorded() -> None:
    decided = plan(claimed(attempts=2), snapshot(), [], set())
    assert not decided.invokes and decided.error is None


def test_a_checkpoint_at_rest_is_only_recorded() -> None:
    decided = plan(claimed(), snapshot(interrupts=("i1",), next=("ask",)), [], {"i1"})
    assert not decided.invokes and decided.error is None


# -- plan: stale answers and the deadline --------------------------------------------------------


def test_an_answer_to_a_gone_interrupt_is_superseded() -> None:
    gathered = [answer("r1", "gone", previous_run_id=3)]
    decided = plan(claimed(run_id=7), snapshot(), gathered, set())
    assert decided.closing == (("r1", "superseded"),)
    assert decided.apply == ()


def test_an_answer_our_own_earlier_attempt_applied_is_resumed() -> None:
    gathered = [answer("r1", "gone", previous_run_id=7)]
    decided = plan(claimed(run_id=7, attempts=2), snapshot(), gathered, set())
    assert decided.closing == (("r1", "resumed"),)


def test_a_stale_expiry_marker_stays_expired() -> None:
    gathered = [answer("r1", "gone", deadline_action="expire_resume")]
    decided = plan(claimed(), snapshot(), gathered, set())
    assert decided.closing == (("r1", "expired"),)


def test_an_expiry_with_thread_fail_fails_the_thread_unresumed() -> None:
    marker = {"expired": True, "reason": "too late"}
    gathered = [answer("r1", "i1", deadline_action="expire_fail", response=marker)]
    decided = plan(claimed(), snapshot(interrupts=("i1",)), gathered, {"i1"})
    assert not decided.invokes
    assert decided.error is not None and decided.error["type"] == "RequestExpired"
    assert "too late" in decided.error["message"]
    outcome = settle(decided)
    assert outcome.closing == (("r1", "expired"),)
    assert outcome.applied is None and outcome.error == decided.error


# -- settle: how each answer ends ---------------------------------------------------------------


def _resuming(*gathered: GatheredResponse) -> Plan:
    ids = {r.interrupt_id for r in gathered if r.interrupt_id}
    return plan(claimed(), snapshot(interrupts=tuple(sorted(ids))), list(gathered), ids)


def test_applied_answers_close_as_resumed() -> None:
    decided = _resuming(answer("r1", "i1"), answer("r2", "i2", deadline_action="default"))
    outcome = settle(decided)
    assert outcome.error is None and outcome.reopen == ()
    assert outcome.closing == (("r1", "resumed"), ("r2", "resumed"))
    assert outcome.applied is not None and [r.id for r in outcome.applied] == ["r1", "r2"]


def test_an_applied_expiry_marker_closes_as_expired() -> None:
    outcome = settle(_resuming(answer("r1", "i1", deadline_action="expire_resume")))
    assert outcome.closing == (("r1", "expired"),)


def test_stale_answers_close_beside_the_applied_ones() -> None:
    gathered = [answer("r1", "i1"), answer("r2", "gone")]
    decided = plan(claimed(), snapshot(interrupts=("i1",)), gathered, {"i1"})
    assert settle(decided).closing == (("r2", "superseded"), ("r1", "resumed"))


def test_a_refused_answer_is_open_again(refused: Exception) -> None:
    outcome = settle(_resuming(answer("r1", "i1"), answer("r2", "i2")), refused)
    assert outcome.error is None
    assert outcome.reopen == ("r1", "r2")
    assert outcome.closing == () and outcome.applied == ()


def test_a_refused_deadline_answer_fails_the_thread(refused: Exception) -> None:
    decided = _resuming(answer("r1", "i1", deadline_action="default"), answer("r2", "i2"))
    outcome = settle(decided, refused)
    assert outcome.error is not None and outcome.error["type"] == "DeadlineAnswerRefused"
    assert "request r1" in outcome.error["message"]
    # what the deadline answered is expired, the rest cancelled; none counts as applied
    assert outcome.closing == (("r1", "expired"), ("r2", "cancelled"))
    assert outcome.reopen == () and outcome.applied is None


def test_a_failing_graph_fails_the_thread_and_its_answers_count_as_applied() -> None:
    outcome = settle(_resuming(answer("r1", "i1")), RuntimeError("boom"), "Traceback ...")
    assert outcome.error == {
        "type": "RuntimeError",
        "message": "boom",
        "traceback": "Traceback ...",
    }
    assert outcome.closing == (("r1", "resumed"),)
    assert outcome.applied is not None and [r.id for r in outcome.applied] == ["r1"]


# -- a thread's next turn and a state update (the Agent Server door) ----------------------------


def test_a_next_turn_gives_the_graph_its_input_over_pending_interrupts() -> None:
    decided = plan(claimed("input"), snapshot(interrupts=("i1",)), [answer("r1", "i1")], {"i1"})
    assert decided.graph_input == {"question": "go?"}
    # an answer that came meanwhile is to an interrupt the new turn leaves behind
    assert decided.apply == ()
    assert decided.closing == (("r1", "superseded"),)


def test_a_next_turn_that_is_a_command_updates_and_goes() -> None:
    run = claimed("input", input=None, options={"command": {"update": {"n": 2}, "goto": "b"}})
    decided = plan(run, snapshot(), [], set())
    assert decided.graph_input == Command(update={"n": 2}, goto="b")


def test_a_next_turn_its_earlier_attempt_committed_is_not_given_again() -> None:
    at_rest = snapshot(interrupts=("i2",), written_by="7:1")
    assert not plan(claimed("input", attempts=2), at_rest, [], {"i2"}).invokes
    between_steps = snapshot(next=("b",), written_by="7:1")
    decided = plan(claimed("input", attempts=2), between_steps, [], set())
    assert decided.invokes and decided.graph_input is None  # continued, not started again
    # another run's checkpoint (run 70, not 7) is no sign of this one
    assert plan(claimed("input"), snapshot(written_by="70:1"), [], set()).invokes


def test_a_state_update_is_applied_once() -> None:
    update = {"values": {"n": 3}, "as_node": "a"}
    assert plan(claimed("update", input=update), snapshot(), [], set()).graph_input == update
    done = snapshot(next=("b",), written_by="7:1")
    assert not plan(claimed("update", input=update, attempts=2), done, [], set()).invokes


def test_the_first_turn_of_a_thread_created_empty_reads_no_checkpoint() -> None:
    first = claimed("input", options={"fresh": True})
    assert is_fresh(first)
    assert plan(first, None, [], set()).graph_input == {"question": "go?"}
    assert not is_fresh(claimed("input", options={"fresh": True}, attempts=2))  # taken over
    assert not is_fresh(claimed("input"))
