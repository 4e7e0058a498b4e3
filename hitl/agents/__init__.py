"""Event-driven agents on the event bus: the `Agent` base class and how to run one.

``hitl agent module:Class`` (or ``python -m hitl.agents module:Class``) runs one agent as a
process. The framework names no agent of its own: the seed's code review -> tests -> deploy
chain is an example (`examples.agent_chain`, its graphs in `graphs.agent_chain`).
"""

from __future__ import annotations

from hitl.agents.base import Agent, AgentFailed
from hitl.agents.process import load_agent, run_agent

__all__ = ["Agent", "AgentFailed", "load_agent", "run_agent"]
