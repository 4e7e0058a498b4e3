"""Deadline policies: the shapes of a request's ``on_timeout`` and ``reminders``, and their
parsers.

The rules that apply them live in `hitl.deadlines`; these shapes sit below it so that the
settings (`hitl.config`) can validate ``HITL_REQUEST_ON_TIMEOUT`` and
``HITL_REQUEST_REMINDERS`` without importing any of the domain.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hitl.assignment import GroupName, Routing, Username

MAX_TIMEOUT_SECONDS = 365 * 86400.0
MAXREMINDERS = 10

Fraction = Annotated[float, Field(gt=0, lt=1)]


class DefaultAnswer(BaseModel):
    """Answer with ``value`` (as ``system:timeout``); the thread resumes with it."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["default"]
    value: Any = Field(description="The answer, validated against the response schema.")


class Expire(BaseModel):
    """The request expires; the thread fails, or resumes with the expiry marker."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["expire"]
    thread: Literal["fail", "resume"] = "fail"


class Escalate(BaseModel):
    """Reassign to ``to`` and extend the deadline by ``extend_seconds``, ``max_times`` times;
    after the last time, ``then`` applies."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["escalate"]
    to: Routing
    extend_seconds: float = Field(gt=0, le=MAX_TIMEOUT_SECONDS)
    max_times: int = Field(1, ge=1, le=100)
    then: Policy = Field(default_factory=lambda: Expire(action="expire"))


Policy = Annotated[DefaultAnswer | Escalate | Expire, Field(discriminator="action")]
Escalate.model_rebuild()

POLICY: TypeAdapter[DefaultAnswer | Escalate | Expire] = TypeAdapter(Policy)
EXPIRE = Expire(action="expire")
Reminders = Annotated[list[Fraction], Field(max_length=MAXREMINDERS)]
REMINDERS: TypeAdapter[list[float]] = TypeAdapter(Reminders)
TIMEOUT: TypeAdapter[float] = TypeAdapter(Annotated[float, Field(gt=0, le=MAX_TIMEOUT_SECONDS)])
USERS: TypeAdapter[list[str]] = TypeAdapter(list[Username])
GROUPS: TypeAdapter[list[str]] = TypeAdapter(list[GroupName])
USER: TypeAdapter[str] = TypeAdapter(Username)
FLAG: TypeAdapter[bool] = TypeAdapter(Annotated[bool, Field(strict=True)])


def reminders_of(fractions: list[float]) -> list[float]:
    """Reminder fractions as stored: ascending, each once."""
    return sorted(set(fractions))


def first_error(exc: ValidationError) -> str:
    """The first problem of ``exc`` as ``where: what``."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def check_reminders(value: Any) -> list[float]:
    """Validated reminder fractions (raises `ValueError` naming the problem)."""
    try:
        return reminders_of(REMINDERS.validate_python(value))
    except ValidationError as exc:
        raise ValueError(f"reminders: {first_error(exc)}") from None


def check_policy(value: Any) -> DefaultAnswer | Escalate | Expire:
    """A validated policy (raises `ValueError` naming the problem)."""
    if isinstance(value, DefaultAnswer | Escalate | Expire):
        return value
    try:
        return POLICY.validate_python(value)
    except ValidationError as exc:
        raise ValueError(f"on_timeout: {first_error(exc)}") from None
