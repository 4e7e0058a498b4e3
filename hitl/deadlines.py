"""Deadlines: when a request times out, what happens then, and the reminders before it.

Every request has a deadline. Its terms come from the first source that gives each one:

1. the request: an interrupt value (a dict) with ``timeout_seconds``, ``on_timeout``,
   ``reminders``; an external request's fields of the same names;
2. the graph's registration: ``register_graph(..., timeout_seconds=..., on_timeout=...,
   reminders=...)``;
3. the settings: ``HITL_REQUEST_TIMEOUT_SECONDS`` (24 h), ``HITL_REQUEST_ON_TIMEOUT``,
   ``HITL_REQUEST_REMINDERS``.

The assignment comes from the interrupt value's ``assignees`` / ``assigned_groups`` (either
replaces the registration's whole assignment), else the registration's ``assignees`` /
``groups``.

``on_timeout`` is one of:

- ``{"action": "default", "value": ...}``: ``system:timeout`` answers with ``value``, validated
  like any answer, and the thread resumes with it; a value the response schema refuses makes
  the request expire (thread failed) with the reason recorded;
- ``{"action": "escalate", "to": {"assignees": [...], "groups": [...]}, "extend_seconds": N,
  "max_times": K, "then": <policy>}``: reassign and extend the deadline, up to K times, then
  apply ``then`` (by default: expire);
- ``{"action": "expire", "thread": "fail" | "resume"}``: the request becomes ``expired``; the
  thread fails, or resumes with the `expiry_marker` as the interrupt's value.

More terms come from the same sources (`hitl.four_eyes`): ``forbid_self_approval`` (the
interrupt value's, else the registration's, else ``HITL_FORBID_SELF_APPROVAL``) and the interrupt
value's ``on_behalf_of`` (the username a graph says it acts for; no other source); and
``priority`` (`hitl.priority`: the value's, the registration's, ``HITL_REQUEST_PRIORITY``), and
``approval`` (`hitl.quorum`: the value's, the registration's), whose voters (``from``) join the
assignment.

``reminders`` are fractions of the time to the deadline (``[0.5, 0.9]``): each emits one
``request.reminded`` event. This module is the rules only; `hitl.timers` fires them, and the
policies' shapes and parsers are in `hitl.policies` (below the settings, which validate them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from hitl import policies, priority, quorum
from hitl.assignment import unique
from hitl.policies import DefaultAnswer, Escalate, Expire

if TYPE_CHECKING:
    from hitl.config import Settings


@dataclass(frozen=True)
class Terms:
    """What a new request is given: its assignment and its deadline's terms."""

    assignees: list[str]
    groups: list[str]
    timeout_seconds: float
    on_timeout: DefaultAnswer | Escalate | Expire
    reminders: list[float]
    #: Four-eyes (`hitl.four_eyes`): whether who asked may not answer, and whom a graph or
    #: agent says it acts for.
    forbid_self_approval: bool = False
    on_behalf_of: str | None = None
    #: `hitl.priority`'s rank (1: normal).
    priority: int = 1
    #: Quorum terms (`hitl.quorum`, as JSON); None: one answer decides.
    approval: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The columns' values, for the statements that create requests."""
        return {
            "assignees": self.assignees,
            "groups": self.groups,
            "timeout": self.timeout_seconds,
            "on_timeout": self.on_timeout.model_dump(mode="json"),
            "reminders": self.reminders,
            "forbid_self_approval": self.forbid_self_approval,
            "on_behalf_of": self.on_behalf_of,
            "priority": self.priority,
            "approval": self.approval,
        }


@dataclass(frozen=True)
class Defaults:
    """The terms a request gets when it names none itself: a graph's registration over the
    settings. ``None`` (or an empty assignment) defers to the next source."""

    timeout_seconds: float
    on_timeout: DefaultAnswer | Escalate | Expire
    reminders: list[float]
    assignees: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    forbid_self_approval: bool = False
    #: The same for external requests (the settings only: they have no registration).
    forbid_self_approval_external: bool = True
    #: `hitl.priority`'s rank.
    priority: int = 1
    approval: dict[str, Any] | None = None

    def over(
        self,
        *,
        assignees: tuple[str, ...] = (),
        groups: tuple[str, ...] = (),
        timeout_seconds: float | None = None,
        on_timeout: DefaultAnswer | Escalate | Expire | None = None,
        reminders: tuple[float, ...] | None = None,
        forbid_self_approval: bool | None = None,
        priority: int | None = None,
        approval: dict[str, Any] | None = None,
    ) -> Defaults:
        """These defaults with a registration's own terms laid over them."""
        return Defaults(
            timeout_seconds=timeout_seconds
            if timeout_seconds is not None
            else self.timeout_seconds,
            on_timeout=on_timeout if on_timeout is not None else self.on_timeout,
            reminders=list(reminders) if reminders is not None else self.reminders,
            assignees=assignees if assignees or groups else self.assignees,
            groups=groups if assignees or groups else self.groups,
            forbid_self_approval=forbid_self_approval
            if forbid_self_approval is not None
            else self.forbid_self_approval,
            forbid_self_approval_external=self.forbid_self_approval_external,
            priority=priority if priority is not None else self.priority,
            approval=approval if approval is not None else self.approval,
        )


def defaults_from(settings: Settings) -> Defaults:
    """The last source of terms: the ``HITL_REQUEST_*`` settings."""
    return Defaults(
        timeout_seconds=settings.request_timeout_seconds,
        on_timeout=policies.check_policy(settings.request_on_timeout),
        reminders=settings.reminder_fractions,
        forbid_self_approval=settings.forbid_self_approval == "all",
        forbid_self_approval_external=settings.forbid_self_approval != "none",
        priority=priority.rank(settings.request_priority),
    )


def for_interrupt(value: Any, defaults: Defaults) -> tuple[Terms, list[str]]:
    """The terms of a request for an interrupt with ``value``, and the problems found in the
    value's own fields (each such field is ignored: the next source gives it)."""
    fields: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
    problems: list[str] = []

    def read(name: str, adapter: TypeAdapter[Any]) -> Any:
        if name not in fields or fields[name] is None:
            return None
        try:
            return adapter.validate_python(fields[name])
        except ValidationError as exc:
            problems.append(f"{name}: {policies.first_error(exc)}")
            return None

    assignees = read("assignees", policies.USERS)
    groups = read("assigned_groups", policies.GROUPS)
    timeout = read("timeout_seconds", policies.TIMEOUT)
    policy = read("on_timeout", policies.POLICY)
    reminders = read("reminders", policies.REMINDERS)
    forbid_self = read("forbid_self_approval", policies.FLAG)
    behalf = read("on_behalf_of", policies.USER)
    urgency = read("priority", priority.PRIORITY)
    quorum_terms = read("approval", quorum.APPROVAL)
    named = assignees is not None or groups is not None
    approval = quorum_terms.stored() if quorum_terms is not None else defaults.approval
    routed_to = (
        (unique(assignees or []), unique(groups or []))
        if named
        else (list(defaults.assignees), list(defaults.groups))
    )
    terms = Terms(
        assignees=routed_to[0],
        groups=routed_to[1],
        timeout_seconds=timeout if timeout is not None else defaults.timeout_seconds,
        on_timeout=policy if policy is not None else defaults.on_timeout,
        reminders=policies.reminders_of(reminders if reminders is not None else defaults.reminders),
        forbid_self_approval=forbid_self
        if forbid_self is not None
        else defaults.forbid_self_approval,
        on_behalf_of=behalf,
        priority=priority.rank(urgency) if urgency is not None else defaults.priority,
        approval=approval,
    )
    return with_voters(terms), problems


def with_voters(terms: Terms) -> Terms:
    """``terms`` routed to their quorum's voters too (`hitl.quorum`: ``from`` joins the
    assignment, so the people who may vote see the request and are notified of it)."""
    voters = quorum.APPROVAL.validate_python(terms.approval).voters if terms.approval else None
    if voters is None:
        return terms
    return replace(
        terms,
        assignees=unique([*terms.assignees, *voters.assignees]),
        groups=unique([*terms.groups, *voters.groups]),
    )


def stored_policy(raw: Any) -> DefaultAnswer | Escalate | Expire:
    """A request's stored ``on_timeout`` (written by this module, so valid; none: expire)."""
    if raw is None:
        return policies.EXPIRE
    return policies.POLICY.validate_python(raw)


def at_deadline(
    policy: DefaultAnswer | Escalate | Expire, escalations: int
) -> DefaultAnswer | Escalate | Expire:
    """What the deadline does now, for a request already escalated ``escalations`` times: an
    ``escalate`` policy applies ``max_times``, then its ``then`` takes over (which may escalate
    again, up to its own ``max_times``)."""
    left = escalations
    while isinstance(policy, Escalate):
        if left < policy.max_times:
            return policy
        left -= policy.max_times
        policy = policy.then
    return policy
