"""Event-driven agents on the event bus: the `Agent` base class and how to run one.

``hitl agent module:Class`` (or ``python -m hitl.agents module:Class``) runs one agent as a
process; `hitl.agents.chain` holds the seed's code review -> tests -> deploy chain.
"""

from __future__ import annotations

from hitl.agents.base import Agent, AgentFailed
from hitl.agents.process import load_agent, run_agent

__all__ = ["Agent", "AgentFailed", "load_agent", "run_agent"]
