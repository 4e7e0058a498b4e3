"""Asking people: typed answers for LangGraph's ``interrupt()``, and the two approval nodes.

The answer models are passed as ``response_schema``: the client sees their JSON Schema (the
form to render), and on resume LangGraph validates the answer with them, so a bad answer
raises `pydantic.ValidationError` and leaves the interrupt pending.

LangGraph re-runs a node from the top when it resumes, so the nodes here do nothing with side
effects before they ask: they only read the state and build the question.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, Field

MAX_COMMENT_CHARS = 5_000


class ReviewDecision(BaseModel):
    """A reviewer's answer to a ``code_review`` request."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "request_changes"]
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


class DeployDecision(BaseModel):
    """An approver's answer to a ``deploy_approval`` request."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


Answer = TypeVar("Answer", bound=BaseModel)


def ask(value: dict[str, Any], answer: type[Answer]) -> Answer:
    """Pause the thread with ``value`` for a person; return their validated answer."""
    return interrupt(value, response_schema=answer)


def title_of(state: Mapping[str, Any]) -> str:
    """The change's title, or one made up from the files it touches."""
    if state.get("title"):
        return str(state["title"])
    paths = [f["path"] for f in (state.get("analysis") or {}).get("files", [])]
    if not paths:
        return "Change"
    more = f" and {len(paths) - 2} more" if len(paths) > 2 else ""
    return f"Change to {', '.join(paths[:2])}{more}"


def _with_comment(sentence: str, comment: str | None) -> str:
    return f"{sentence}: {comment.strip()}" if comment and comment.strip() else f"{sentence}."


def human_review(state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``human_review`` node: show the diff and findings to a reviewer and record the answer.

    ``reject`` and ``request_changes`` end the thread (they set ``outcome``); ``approve`` leaves
    ``outcome`` unset so the graph goes on to the tests.
    """
    analysis = state["analysis"]
    answer = ask(
        {
            "kind": "code_review",
            "title": title_of(state),
            "summary": analysis["summary"],
            "author": state.get("author"),
            "risk_score": analysis["risk_score"],
            "risk_level": analysis["risk_level"],
            "findings": analysis["findings"],
            "diff": state["diff"],
        },
        ReviewDecision,
    )
    update: dict[str, Any] = {"review": answer.model_dump()}
    if answer.decision == "reject":
        update["outcome"] = "rejected"
        update["reason"] = _with_comment("The reviewer rejected the change", answer.comment)
    elif answer.decision == "request_changes":
        update["outcome"] = "changes_requested"
        update["reason"] = _with_comment("The reviewer requested changes", answer.comment)
    return update


def deploy_approval(state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``deploy_approval`` node: ask whether to deploy the tested change to production."""
    analysis = state["analysis"]
    answer = ask(
        {
            "kind": "deploy_approval",
            "title": title_of(state),
            "summary": analysis["summary"],
            "risk_level": analysis["risk_level"],
            "tests": state["tests"],
        },
        DeployDecision,
    )
    update: dict[str, Any] = {"deploy_decision": answer.model_dump()}
    if answer.decision == "reject":
        update["outcome"] = "rejected"
        update["reason"] = _with_comment("Deployment to production was rejected", answer.comment)
    return update
