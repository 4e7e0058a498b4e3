"""The seed's chain of agents, each its own process (``hitl agent examples.agent_chain:<Class>``,
run from the repository's root)::

    code.analysis.needed --CodeReviewAgent--> code.approved | code.rejected
    code.approved        --TestAgent-------> tests.passed | tests.failed
    tests.passed         --DeployAgent-----> deploy.completed | deploy.rejected

Event data is a change (`graphs.agent_chain.Change`): ``code.analysis.needed`` needs ``diff``
and may carry ``title``, ``author`` and ``test_profile``; each agent passes the change on with
its own results added. The subject (the change's id) stays the same along the chain.

``test_profile`` only names one of the test profiles the operator configured for the
TestAgent's process (``HITL_TEST_PROFILES``, `nodes.testing`): an event never chooses a
program, and a name the agent does not know fails the tests without running anything.

The review and the deploy approval are questions to people, asked through the service's REST
API as threads of the ``agent_review`` / ``agent_deploy`` graphs (`graphs.agent_chain`); the
analysis is `nodes.analysis.analyze_diff` and the tests `nodes.testing.run_tests`, in the agent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hitl.agents.base import Agent
from hitl.bus import Bus, Event
from hitl.sdk import HITLClient
from nodes import analysis, testing


def _change(event: Event) -> dict[str, Any]:
    data = event.data if isinstance(event.data, dict) else {}
    if not isinstance(data.get("diff"), str) or not data["diff"]:
        raise ValueError(f"{event.type} {event.id} has no diff")
    return dict(data)


class CodeReviewAgent(Agent):
    """Analyses the diff; a risky one (score >= 50) goes to a person, the rest is approved."""

    name = "code-review"
    subscribes = ("code.analysis.needed",)

    async def handle(self, event: Event) -> None:
        change = _change(event)
        change["analysis"] = analysis.analyze_diff(change["diff"]).to_dict()
        if change["analysis"]["risk_level"] != "high":
            change["review"] = None
            change["reason"] = f"Risk {change['analysis']['risk_level']}: approved without review."
            await self.emit("code.approved", change, cause=event)
            return
        values = await self.ask_person("agent_review", change, cause=event)
        change["review"] = values.get("review")
        change["reason"] = values.get("reason")
        approved = (change["review"] or {}).get("decision") == "approve"
        await self.emit("code.approved" if approved else "code.rejected", change, cause=event)


class TestAgent(Agent):
    """Runs the operator's test profile the change names (or the built-in diff check)."""

    __test__ = False  # not a pytest class
    name = "tests"
    subscribes = ("code.approved",)

    def __init__(self, bus: Bus, hitl: HITLClient | None = None) -> None:
        super().__init__(bus, hitl)
        self.profiles = testing.configured_profiles()  # a bad setting fails at start

    async def handle(self, event: Event) -> None:
        change = _change(event)
        change.update(await asyncio.to_thread(testing.run_tests, change, self.profiles))
        passed = change["tests"]["passed"]
        await self.emit("tests.passed" if passed else "tests.failed", change, cause=event)


class DeployAgent(Agent):
    """Asks a person whether to deploy the tested change, and deploys it if so."""

    name = "deploy"
    subscribes = ("tests.passed",)

    async def handle(self, event: Event) -> None:
        change = _change(event)
        values = await self.ask_person("agent_deploy", change, cause=event)
        for key in ("deploy_decision", "deployment", "outcome", "reason"):
            change[key] = values.get(key)
        deployed = values.get("outcome") == "deployed"
        await self.emit("deploy.completed" if deployed else "deploy.rejected", change, cause=event)
