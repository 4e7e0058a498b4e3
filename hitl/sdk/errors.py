"""What the SDK's clients raise: `HITLClientError` for an error status, `WaitTimeout` for a wait
that ran out, `RequestExpired` / `RequestWithdrawn` for a question `ask` got no answer to.

An error status becomes a `HITLClientError` carrying the status code and the server's
``detail``, with a subclass per status a caller handles differently (404 `NotFoundError`, 409
`ConflictError`, 422 `InvalidInputError`). Each subclass is also the matching `hitl.errors`
class (dependency-free, shipped with the SDK), so ``except errors.Conflict`` works on either
side of the wire. Network failures are httpx's own exceptions (``httpx.TransportError``).
"""

from __future__ import annotations

from typing import Any, Final

from hitl import errors


class HITLClientError(errors.HITLError):
    """The service answered with an error status. ``detail`` is its ``detail`` field as sent."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(detail)
        self.status_code = status_code

    def __str__(self) -> str:
        return f"HTTP {self.status_code}: {self.detail}"


class UnauthenticatedError(HITLClientError, errors.Unauthenticated):
    """401: no API key, or an unknown or revoked one."""


class ForbiddenError(HITLClientError, errors.Forbidden):
    """403: the key lacks the scope, or the request is assigned to others."""


class NotFoundError(HITLClientError, errors.NotFound):
    """404: no such thread, request or graph."""


class ConflictError(HITLClientError, errors.Conflict):
    """409: the state changed under the caller (already answered, thread id taken, ...).

    ``state`` is the request's current state when the conflict is an answer that came too
    late (``responded``, ``resumed``, ``superseded``, ...), else None.
    """

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(status_code, detail)
        state = detail.get("state") if isinstance(detail, dict) else None
        self.state: str | None = state if isinstance(state, str) else None


class InvalidInputError(HITLClientError, errors.InvalidInput):
    """422: the input or answer failed validation. ``errors`` lists ``{loc, msg, type}``."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(status_code, detail)
        self.errors: list[dict[str, Any]] = (
            [e for e in detail if isinstance(e, dict)] if isinstance(detail, list) else []
        )


class WaitTimeout(errors.HITLError):
    """`wait` ran out of time before the thread settled; ``thread`` is how it was last seen."""

    def __init__(self, thread_id: str, timeout: float, thread: dict[str, Any]) -> None:
        status = thread.get("status")
        super().__init__(f"thread {thread_id!r} still {status} after {timeout:g}s")
        self.thread_id = thread_id
        self.thread = thread


class RequestClosed(errors.HITLError):
    """`ask` ended without an answer: the request was closed. ``request`` is it as last seen
    (``state``, ``closed_at``, ``deadline_at``...)."""

    def __init__(self, request: dict[str, Any], why: str) -> None:
        super().__init__(f"request {request.get('id')!r} {why}")
        self.request = request
        self.request_id = str(request.get("id"))


class RequestExpired(RequestClosed):
    """The request's deadline passed without an answer (its ``on_timeout`` expired it)."""

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(
            request, f"expired unanswered at its deadline ({request.get('deadline_at')})"
        )


class RequestWithdrawn(RequestClosed):
    """The request was withdrawn (``DELETE /api/v1/requests/{id}``) before anyone answered."""

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(request, "was withdrawn before anyone answered")


BY_STATUS: Final[dict[int, type[HITLClientError]]] = {
    401: UnauthenticatedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidInputError,
}


def for_status(status_code: int, detail: Any) -> HITLClientError:
    """The error an answer with ``status_code`` and ``detail`` stands for."""
    return BY_STATUS.get(status_code, HITLClientError)(status_code, detail)
