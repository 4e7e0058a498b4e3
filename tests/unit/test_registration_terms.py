"""A graph's registration with bad deadline terms is refused when it registers
(hitl/registry.py, hitl/policies.py)."""

from __future__ import annotations

import pytest


async def test_bad_registrations_are_refused_at_once() -> None:
    from hitl.registry import GraphRegistry
    from tests.support.graphs import _timed

    registry = GraphRegistry()
    for bad, words in [
        ({"assignees": ["no spaces"]}, "assignees.0"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"on_timeout": {"action": "escalate", "to": {}}}, "on_timeout: .*extend_seconds"),
        ({"reminders": [0]}, "reminders: 0"),
    ]:
        with pytest.raises(ValueError, match=words):
            registry.register("g", _timed, **bad)
    assert "g" not in registry
