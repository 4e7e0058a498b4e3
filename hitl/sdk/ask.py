"""`ask()`: put a question to a person and get back their answer as a typed value, from any
program (no LangGraph, no webhook receiver).

    class Approval(BaseModel):
        approved: bool
        comment: str = ""

    async with HITLClient(url) as hitl:
        answer = await hitl.ask("Deploy v2 to prod?", response_model=Approval,
                                groups=["ops"], timeout_seconds=3600,
                                idempotency_key="deploy-v2")
        if answer.approved: ...

It creates an external request without a callback (the model's JSON Schema is its response
schema, so the form and the service's validation follow the model), then long-polls
``GET /api/v1/requests/{id}/wait`` until the request is settled (a poll refused with 503, the
server's process having too many waits open, is sent again after its Retry-After): an answer
comes back as an instance of the model; expiry raises `RequestExpired`, withdrawal
`RequestWithdrawn`.

**Across restarts.** With ``idempotency_key`` the creation is replayed, not repeated: a caller
that crashed while waiting and asks again with the same key and the same question gets the
same request, so the answer given meanwhile (or still to come) is returned, and a person is
asked once. The service keeps keys 24 hours; the ``workflow_id`` is derived from the key.

Like the rest of the SDK the operation is written once without I/O (`ask`, an
`hitl.sdk._calls.Exchange`); `HITLClient.ask` and `SyncHITLClient.ask` send its calls.
pydantic is needed only by the caller that passes a model (the SDK does not import it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from hitl.sdk._calls import API, Call, Exchange, Record, idempotent, seg
from hitl.sdk.errors import RequestExpired, RequestWithdrawn

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

#: Seconds each long poll lasts (well within the server's 300, and within what proxies allow).
POLL_SECONDS: Final = 60.0
MAX_TITLE: Final = 500


@dataclass(frozen=True)
class Question:
    """What `ask` sends: the question and its terms."""

    question: str
    response_schema: dict[str, Any] | None = None
    context: Any = None
    assignees: Sequence[str] = ()
    groups: Sequence[str] = ()
    timeout_seconds: float | None = None
    on_timeout: dict[str, Any] | None = None
    idempotency_key: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    priority: str | None = None
    on_behalf_of: str | None = None
    approval: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The ``POST /api/v1/requests`` body: the same for the same key (a replay)."""
        workflow_id = (
            f"ask:{self.idempotency_key}" if self.idempotency_key else f"ask:{uuid.uuid4()}"
        )
        body: dict[str, Any] = {
            "workflow_id": workflow_id[:200],
            "title": self.question[:MAX_TITLE],
            "context": self.context if self.context is not None else {"question": self.question},
        }
        if self.assignees or self.groups:
            body["routing"] = {"assignees": list(self.assignees), "groups": list(self.groups)}
        optional = {
            "response_schema": self.response_schema,
            "timeout_seconds": self.timeout_seconds,
            "on_timeout": self.on_timeout,
            "description": self.description,
            "metadata": self.metadata,
            "priority": self.priority,
            "on_behalf_of": self.on_behalf_of,
            "approval": self.approval,
        }
        return body | {k: v for k, v in optional.items() if v is not None}


def schema_of(response_model: type[BaseModel] | None) -> dict[str, Any] | None:
    return response_model.model_json_schema() if response_model is not None else None


def ask(question: Question) -> Exchange[Record]:
    """Create the request (replayed under the same key), then wait until it is settled; the
    settled request, or `RequestExpired` / `RequestWithdrawn`."""
    headers = idempotent(question.idempotency_key)
    request: Record = yield Call("POST", f"{API}/requests", body=question.body(), headers=headers)
    return (yield from settled(request))


def settled(request: Record) -> Exchange[Record]:
    """Long-poll a request until it is no longer pending."""
    path = f"{API}/requests/{seg(str(request['id']))}/wait"
    while request["state"] == "pending":
        params = {"timeout": POLL_SECONDS}
        request = yield Call("GET", path, params, extra_timeout=POLL_SECONDS, retry_busy=True)
    if request["state"] == "expired":
        raise RequestExpired(request)
    if request["state"] == "cancelled":
        raise RequestWithdrawn(request)
    return request


def answer_of(request: Record, response_model: type[M] | None) -> Any:
    """The request's answer, as an instance of ``response_model`` when one is given (raises
    pydantic's ``ValidationError`` if the answer does not fit it). A quorum's answer (the
    request had ``approval`` terms) is ``{"decision", "reason", "votes"}`` as it is: each vote's
    ``response`` is what fits the model."""
    response = request.get("response")
    if response_model is None or request.get("approval"):
        return response
    return response_model.model_validate(response)


def wait_for_request(request_id: str, timeout: float) -> Exchange[Record]:
    path = f"{API}/requests/{seg(request_id)}/wait"
    found: Record = yield Call("GET", path, {"timeout": timeout}, extra_timeout=timeout)
    return found


def withdraw(request_id: str) -> Exchange[Record]:
    found: Record = yield Call("DELETE", f"{API}/requests/{seg(request_id)}")
    return found
