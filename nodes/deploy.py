"""The ``deploy`` node: deploys the approved change once (no network, no real target).

LangGraph may run a node again (a worker that dies after the deploy and before the step's
checkpoint leaves the step to the next worker), so the deploy goes through `hitl.once`: the
first run calls `release` and the service records its result; a re-run of the step gets that
record back instead of deploying again. `release` stands for a deploy tool's API and takes the
step's `hitl.effect_key` as its idempotency key, which a real tool dedupes on (see
docs/effects.md): so a worker that died between the call and its record leaves the re-run to
call again with the same key (``retry_unfinished``) rather than fail the thread. The
deployment id is derived from the diff, so the same change keeps its id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

import hitl

ENVIRONMENT = "production"


class Deployment(TypedDict):
    id: str
    environment: str
    deployed_at: str  # ISO 8601, UTC
    idempotency_key: str  # the step's effect key, given to the deploy tool


def deployment_id(diff: str) -> str:
    """``deploy-`` plus the first 12 hex digits of the diff's SHA-256."""
    return "deploy-" + hashlib.sha256(diff.encode("utf-8")).hexdigest()[:12]


def release(diff: str, idempotency_key: str) -> Deployment:
    """The deploy call (a stand-in that only says what it deployed)."""
    return Deployment(
        id=deployment_id(diff),
        environment=ENVIRONMENT,
        deployed_at=datetime.now(UTC).isoformat(),
        idempotency_key=idempotency_key,
    )


def deployed(state: Mapping[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The state update once ``deployment`` is done: outcome ``deployed`` and why."""
    tests = state.get("tests") or {}
    checked = f"`{tests['command']}` passed" if tests.get("command") else "the diff check passed"
    comment = (state.get("deploy_decision") or {}).get("comment")
    reason = f"Deployed to {ENVIRONMENT} as {deployment['id']} after {checked} and approval"
    if comment and comment.strip():
        reason += f" ({comment.strip()})"
    return {"deployment": deployment, "outcome": "deployed", "reason": reason + "."}


async def deploy(state: Mapping[str, Any]) -> dict[str, Any]:
    """Deploy once per approval (`hitl.once`) and finish the thread with outcome ``deployed``."""
    key = str(hitl.effect_key("deploy"))
    deployment = await hitl.once(
        "deploy", lambda: release(state["diff"], key), retry_unfinished=True
    )
    return deployed(state, deployment)
