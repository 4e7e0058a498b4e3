"""Where a request's priority comes from (hitl/priority.py, hitl/deadlines.py)."""

from __future__ import annotations

import pytest

from hitl import deadlines, priority
from hitl.config import Settings
from hitl.registry import GraphRegistry
from tests.support.graphs import _terms_graph


def test_the_interrupt_then_the_registration_then_the_settings() -> None:
    def rank(setting: str, registered: str | None, value: dict[str, object]) -> str:
        registry = GraphRegistry()
        spec = registry.register("g", _terms_graph, priority=registered)
        defaults = spec.defaults(deadlines.defaults_from(Settings(request_priority=setting)))  # type: ignore[arg-type]
        terms, _ = deadlines.for_interrupt(value, defaults)
        return priority.name_of(terms.priority)

    assert rank("normal", None, {}) == "normal"
    assert rank("low", None, {}) == "low"
    assert rank("low", "high", {}) == "high"
    assert rank("low", "high", {"priority": "urgent"}) == "urgent"
    assert rank("low", "high", {"priority": "panic"}) == "high"  # ignored, and said so
    with pytest.raises(ValueError, match="priority"):
        GraphRegistry().register("g", _terms_graph, priority="panic")


def test_ranks_and_names() -> None:
    assert [priority.rank(n) for n in priority.LEVELS] == [0, 1, 2, 3]
    assert [priority.name_of(r) for r in (None, -1, 0, 3, 9)] == [
        "normal",
        "low",
        "low",
        "urgent",
        "urgent",
    ]
