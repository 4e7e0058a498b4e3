"""The ``deploy`` node: records a deployment of the approved change (no network, no real target).

The deployment id is derived from the diff, so deploying the same change twice yields the same
id: a stand-in for the idempotency key a real deploy API would take.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

ENVIRONMENT = "production"


class Deployment(TypedDict):
    id: str
    environment: str
    deployed_at: str  # ISO 8601, UTC


def deployment_id(diff: str) -> str:
    """``deploy-`` plus the first 12 hex digits of the diff's SHA-256."""
    return "deploy-" + hashlib.sha256(diff.encode("utf-8")).hexdigest()[:12]


def deploy(state: Mapping[str, Any]) -> dict[str, Any]:
    """Record the deployment and finish the thread with outcome ``deployed``."""
    deployment = Deployment(
        id=deployment_id(state["diff"]),
        environment=ENVIRONMENT,
        deployed_at=datetime.now(UTC).isoformat(),
    )
    tests = state.get("tests") or {}
    checked = f"`{tests['command']}` passed" if tests.get("command") else "the diff check passed"
    comment = (state.get("deploy_decision") or {}).get("comment")
    reason = f"Deployed to {ENVIRONMENT} as {deployment['id']} after {checked} and approval"
    if comment and comment.strip():
        reason += f" ({comment.strip()})"
    return {"deployment": deployment, "outcome": "deployed", "reason": reason + "."}
