"""Assignment: who a request is for. Users by username, groups by name (tables of migration
0004); a request assigned to nobody is for any responder.

A request gets its assignment when it is created: from the interrupt value's ``assignees`` /
``assigned_groups``, else from the graph's registration (`register_graph(..., assignees=...,
groups=...)`); an external request from its ``routing``. `reassign` changes it later (the API's
``POST /api/v1/requests/{id}/assign`` and the request page), and an ``escalate`` deadline policy
does when the deadline passes (`hitl.timers`). Who may answer is decided elsewhere, from these
two lists.

This module holds the shapes only (no I/O), so that the deadline policies (`hitl.policies`)
and the settings below the domain can name them; checking names against the tables and
reassigning live with the request state machine (`hitl.requests.reassign`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# The same patterns as the CHECK constraints of hitl_users.username and hitl_groups.name.
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
GROUP_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_NAMES = 100

Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
GroupName = Annotated[str, StringConstraints(pattern=GROUP_PATTERN)]


def unique(names: list[str]) -> list[str]:
    """``names`` without repeats, in their first order."""
    return list(dict.fromkeys(names))


class Routing(BaseModel):
    """Users and groups a request is assigned to. Both empty: any responder."""

    model_config = ConfigDict(extra="forbid")

    assignees: list[Username] = Field(
        default_factory=list, max_length=MAX_NAMES, description="Usernames."
    )
    groups: list[GroupName] = Field(
        default_factory=list, max_length=MAX_NAMES, description="Group names."
    )

    @field_validator("assignees", "groups")
    @classmethod
    def _dedupe(cls, names: list[str]) -> list[str]:
        return unique(names)
