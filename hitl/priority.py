"""Priority: how urgent a request is, for sorting the inbox and its "Due soon" view.

Four levels, stored as a number so that the inbox sorts by an index: ``low`` (0), ``normal``
(1), ``high`` (2), ``urgent`` (3). Like a deadline's terms (`hitl.deadlines`) a request's
priority comes from the first source that gives it: the interrupt value's ``priority`` (or an
external request's), the graph's registration (``register_graph(..., priority="high")``), the
setting ``HITL_REQUEST_PRIORITY`` (``normal``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import TypeAdapter

Priority = Literal["low", "normal", "high", "urgent"]
LEVELS: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
PRIORITY: TypeAdapter[Priority] = TypeAdapter(Priority)


def rank(name: str) -> int:
    """The stored number of a priority."""
    return LEVELS.index(name)


def name_of(rank: int | None) -> Priority:
    """The priority of a stored number (out of range: the nearest level)."""
    if rank is None:
        return "normal"
    return LEVELS[max(0, min(len(LEVELS) - 1, rank))]
