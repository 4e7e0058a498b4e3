"""One exception root for the framework, with a subclass per domain problem.

The API maps each to a status code in one handler (`hitl.api.errors`); the ``detail`` is what
the client sees, so it names the thing and the reason.
"""

from __future__ import annotations

from typing import Any


class HITLError(Exception):
    """Root of every error the framework raises on purpose."""

    status_code = 500

    def __init__(self, detail: Any = None) -> None:
        self.detail: Any = detail if detail is not None else self.__class__.__doc__
        super().__init__(detail)


def describe(detail: Any) -> str:
    """A ``detail`` as one line for a person: ``field: reason; ...`` for validation errors."""
    if isinstance(detail, list):
        return "; ".join(f"{p['loc'][-1]}: {p['msg']}" for p in detail)
    return str(detail)


class NotFound(HITLError):
    """The thing asked for does not exist."""

    status_code = 404


class GraphNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"graph {name!r} is not registered")
        self.name = name


class ThreadNotFound(NotFound):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} not found")


class RequestNotFound(NotFound):
    def __init__(self, request_id: str) -> None:
        super().__init__(f"request {request_id!r} not found")


class Conflict(HITLError):
    """The state changed under the caller: the operation no longer applies."""

    status_code = 409


class ThreadExists(Conflict):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} already exists")


class RequestNotPending(Conflict):
    """The request was already answered (or closed): the first answer won."""

    def __init__(self, request_id: str, state: str, request: Any = None) -> None:
        super().__init__({"msg": f"request {request_id!r} is {state}, not pending", "state": state})
        self.state = state
        self.request = request


class Claimed(Conflict):
    """Someone else claimed the request: they answer it, unless their claim expires first."""

    def __init__(self, request_id: str, claimed_by: Any, until: Any) -> None:
        when = until.isoformat() if hasattr(until, "isoformat") else str(until)
        super().__init__(
            {
                "msg": f"request {request_id!r} is claimed by {claimed_by!r} until {when}: only "
                "they (or an admin) may answer it before then",
                "state": "pending",
                "claimed_by": claimed_by,
                "claim_expires_at": when,
            }
        )


class AlreadyVoted(Conflict):
    def __init__(self, request_id: str, voter: str) -> None:
        super().__init__(
            {
                "msg": f"{voter!r} already voted on request {request_id!r}: one person, one vote",
                "state": "pending",
            }
        )


class Unauthenticated(HITLError):
    """Sign in, or send an API key in the Authorization header: Bearer <key>."""

    status_code = 401


class Forbidden(HITLError):
    """The caller is known but may not do this."""

    status_code = 403


class MissingScope(Forbidden):
    def __init__(self, scope: str) -> None:
        super().__init__(f"this needs the {scope!r} scope, which the caller does not have")
        self.scope = scope


class NotAssigned(Forbidden):
    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"request {request_id!r} is assigned to others: only its assignees, members of its "
            "groups and admins may answer it"
        )


class NotAVoter(Forbidden):
    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"request {request_id!r} is decided by the votes of the people its approval names "
            "(approval.from), and you are not among them"
        )


class SelfApproval(Forbidden):
    def __init__(self, request_id: str, requester: str) -> None:
        super().__init__(
            f"request {request_id!r} was asked for by {requester!r}, who may not answer it: "
            "another person must (forbid_self_approval)"
        )


class SignInThrottled(HITLError):
    """Too many failed sign-ins for this account or from this address: try again later."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class RequestPastDeadline(RequestNotPending):
    """The request's deadline passed: its timeout policy applies, not a late answer."""

    def __init__(self, request_id: str, deadline_at: Any, request: Any = None) -> None:
        super().__init__(request_id, "pending", request)
        self.detail = {
            "msg": f"request {request_id!r} passed its deadline ({deadline_at}); "
            "its on_timeout policy applies",
            "state": "pending",
            "deadline_at": deadline_at.isoformat()
            if hasattr(deadline_at, "isoformat")
            else str(deadline_at),
        }


class InvalidInput(HITLError):
    """Input failed validation. ``detail`` is a list of ``{loc, msg, type}`` like FastAPI's."""

    status_code = 422


class ResponseInvalid(InvalidInput):
    """An answer does not match the request's response schema."""


class CannotStart(HITLError):
    """The service or a worker refuses to start, on purpose: ``detail`` says what is wrong and
    what fixes it (a command to run, a setting to change).

    `hitl serve` and `hitl worker` print `line` alone on stderr and exit non-zero: the operator
    needs the reason, not a traceback through the server's start-up (tracebacks are kept for
    the failures nobody planned)."""

    def line(self) -> str:
        return f"hitl: cannot start: {describe(self.detail)}"


class BadSettings(CannotStart):
    """A ``HITL_*`` setting has a value the service cannot use."""


class NoDataFolder(HITLError):
    """A command needs the embedded engines of a data folder that does not exist here.

    Only ``hitl serve`` creates one: a key or user made in a new, empty folder would be unknown
    to the service running elsewhere."""


class EmbeddedEngineError(HITLError):
    """An embedded engine (Postgres or Redis under the data folder) failed to start or stop."""

    def __init__(self, engine: str, problem: str, log: object = None) -> None:
        where = f"; see its log: {log}" if log is not None else ""
        super().__init__(f"embedded {engine}: {problem}{where}")
        self.engine = engine
        self.log = log


class UnusableDataFolder(EmbeddedEngineError, CannotStart):
    """An embedded engine cannot run in this data folder at all (its path, say): a refusal
    whose detail names the folder and what to choose instead."""
