"""Human-in-the-loop orchestration for LangGraph."""

from __future__ import annotations

from hitl.errors import HITLError
from hitl.registry import GraphRegistry, GraphSpec, default_registry, register_graph

__all__ = [
    "GraphRegistry",
    "GraphSpec",
    "HITLError",
    "default_registry",
    "register_graph",
]
