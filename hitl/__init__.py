"""Human-in-the-loop orchestration for LangGraph.

Importing ``hitl`` loads nothing of the server: ``hitl.sdk`` (the client, also shipped alone
as the ``hitl-sdk`` distribution) imports through this package, and a client must not pull in
psycopg, LangGraph or the request state machine. The graph registry (``register_graph`` and
its kin) is therefore imported on first use of one of its names (PEP 562 ``__getattr__``), so
``from hitl import register_graph`` keeps working for graph authors. The helpers for side effects
done once per step (`hitl.effects`: ``effect_key``, ``once``, ``once_in_transaction``) load the
same way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hitl.errors import HITLError

if TYPE_CHECKING:
    from hitl.effects import EffectUnfinished, effect_key, once, once_in_transaction
    from hitl.registry import GraphRegistry, GraphSpec, default_registry, register_graph

__all__ = [
    "EffectUnfinished",
    "GraphRegistry",
    "GraphSpec",
    "HITLError",
    "default_registry",
    "effect_key",
    "once",
    "once_in_transaction",
    "register_graph",
]

_FROM_REGISTRY = frozenset({"GraphRegistry", "GraphSpec", "default_registry", "register_graph"})
_FROM_EFFECTS = frozenset({"EffectUnfinished", "effect_key", "once", "once_in_transaction"})


def __getattr__(name: str) -> Any:
    if name in _FROM_REGISTRY:
        return getattr(importlib.import_module("hitl.registry"), name)
    if name in _FROM_EFFECTS:
        return getattr(importlib.import_module("hitl.effects"), name)
    raise AttributeError(f"module 'hitl' has no attribute {name!r}")
