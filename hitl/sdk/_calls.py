"""Every operation of the SDK's clients, written once, without I/O.

An operation is a generator (an `Exchange`): it yields each HTTP call it needs as data (a
`Call`: method, path, query, body, headers), receives the call's JSON answer, and returns the
operation's result, so the async `hitl.sdk.HITLClient` and the blocking
`hitl.sdk.SyncHITLClient` differ only in how they send a call (their ``_run``). Operations of
several calls (`wait`, `start_and_wait`, `resume_and_wait`) keep their loop and deadline here
too. An error status never reaches an operation: the client raises it (`hitl.sdk.errors`).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeVar
from urllib.parse import quote

from hitl.sdk.errors import WaitTimeout
from hitl.sdk.types import Delivery, DeliveryPage, Endpoint, EndpointPage, EndpointWithSecret

API: Final = "/api/v1"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
SETTLED: Final = frozenset({"interrupted", "completed", "failed"})
"""Thread statuses `HITLClient.wait` returns on: nothing happens until someone acts."""
MAX_WAIT_PER_CALL: Final = 300.0  # the server's upper bound for ``/wait?timeout=``

NO_BODY: Final = object()

T = TypeVar("T")
Exchange: TypeAlias = Generator["Call", Any, T]
"""Yields calls, is sent each one's JSON answer, returns the operation's result."""

Record: TypeAlias = dict[str, Any]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    body: Any = NO_BODY
    extra_timeout: float = 0.0  # added to the client's timeout (long polls)
    headers: dict[str, str] | None = None
    # a 503 (too many waits open in the server's process) is waited out and the call sent
    # again: for long polls that are to last (`hitl.sdk.ask`)
    retry_busy: bool = False


def seg(value: str) -> str:
    return quote(value, safe="")


def wait_slice(deadline: float) -> float:
    """How long the next long poll may last: what is left, within the server's bound."""
    return round(max(0.0, min(deadline - time.monotonic(), MAX_WAIT_PER_CALL)), 3)


def waiting(seconds: float | None) -> dict[str, Any]:
    """The keyword arguments of a call that waits ``seconds`` for the thread to come to rest."""
    return {"params": {"wait": seconds}, "extra_timeout": seconds} if seconds is not None else {}


def idempotent(key: str | None) -> dict[str, str] | None:
    return {IDEMPOTENCY_HEADER: key} if key is not None else None


def page(limit: int, cursor: str | None) -> dict[str, Any]:
    return {"limit": limit, **({"cursor": cursor} if cursor else {})}


# -- threads ---------------------------------------------------------------------------------------


def start_call(
    graph: str,
    input: dict[str, Any],
    thread_id: str | None,
    metadata: dict[str, Any] | None,
    wait: float | None = None,
) -> Call:
    body: dict[str, Any] = {"graph": graph, "input": input}
    if thread_id is not None:
        body["thread_id"] = thread_id
    if metadata is not None:
        body["metadata"] = metadata
    return Call("POST", f"{API}/threads", body=body, **waiting(wait))


def start_thread(
    graph: str, input: dict[str, Any], thread_id: str | None, metadata: dict[str, Any] | None
) -> Exchange[str]:
    created: Record = yield start_call(graph, input, thread_id, metadata)
    return str(created["thread_id"])


def start_and_wait(
    graph: str,
    input: dict[str, Any],
    thread_id: str | None,
    metadata: dict[str, Any] | None,
    timeout: float,
) -> Exchange[Record]:
    deadline = time.monotonic() + timeout
    thread: Record = yield start_call(graph, input, thread_id, metadata, wait_slice(deadline))
    return (yield from settled(thread, timeout, deadline))


def settled(thread: Record, timeout: float, deadline: float) -> Exchange[Record]:
    """``thread`` if at rest, else what `wait` gets in the time left of ``timeout``."""
    if thread["status"] in SETTLED:
        return thread
    if time.monotonic() >= deadline:
        raise WaitTimeout(thread["thread_id"], timeout, thread)
    return (yield from wait(thread["thread_id"], max(deadline - time.monotonic(), 0.0)))


def get_thread(thread_id: str) -> Exchange[Record]:
    thread: Record = yield Call("GET", f"{API}/threads/{seg(thread_id)}")
    return thread


def wait(thread_id: str, timeout: float) -> Exchange[Record]:
    """Long polls until the thread settles; `WaitTimeout` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        seconds = wait_slice(deadline)
        path = f"{API}/threads/{seg(thread_id)}/wait"
        thread: Record = yield Call("GET", path, {"timeout": seconds}, extra_timeout=seconds)
        if thread["status"] in SETTLED:
            return thread
        if time.monotonic() >= deadline:
            raise WaitTimeout(thread_id, timeout, thread)


def resume_call(thread_id: str, answers: dict[str, Any], wait: float | None = None) -> Call:
    body = {"resume": answers}
    return Call("POST", f"{API}/threads/{seg(thread_id)}/resume", body=body, **waiting(wait))


def resume(thread_id: str, answers: dict[str, Any]) -> Exchange[list[Record]]:
    answered: list[Record] = yield resume_call(thread_id, answers)
    return answered


def resume_and_wait(thread_id: str, answers: dict[str, Any], timeout: float) -> Exchange[Record]:
    deadline = time.monotonic() + timeout
    thread: Record = yield resume_call(thread_id, answers, wait_slice(deadline))
    return (yield from settled(thread, timeout, deadline))


# -- requests --------------------------------------------------------------------------------------


def list_requests(
    state: str | None,
    graph: str | None,
    thread_id: str | None,
    assigned_to: str | None,
    limit: int,
    cursor: str | None,
) -> Exchange[Record]:
    params = {"state": state, "graph": graph, "thread_id": thread_id, "cursor": cursor}
    params["assigned_to"] = assigned_to
    kept: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
    found: Record = yield Call("GET", f"{API}/requests", {**kept, "limit": limit})
    return found


def get_request(request_id: str) -> Exchange[Record]:
    request: Record = yield Call("GET", f"{API}/requests/{seg(request_id)}")
    return request


def respond(request_id: str, response: Any, idempotency_key: str | None) -> Exchange[Record]:
    path = f"{API}/requests/{seg(request_id)}/respond"
    headers = idempotent(idempotency_key)
    request: Record = yield Call("POST", path, body={"response": response}, headers=headers)
    return request


def assign(request_id: str, assignees: list[str], groups: list[str]) -> Exchange[Record]:
    path = f"{API}/requests/{seg(request_id)}/assign"
    body = {"assignees": assignees, "groups": groups}
    request: Record = yield Call("POST", path, body=body)
    return request


def create_request(
    workflow_id: str,
    callback_webhook: str | None,
    context: Any,
    fields: dict[str, Any],
    idempotency_key: str | None,
) -> Exchange[Record]:
    """``fields`` are the optional terms; those given as None are left out (and so is
    ``callback_webhook``: the creator then waits for the answer)."""
    body = {"workflow_id": workflow_id, "context": context}
    if callback_webhook is not None:
        body["callback_webhook"] = callback_webhook
    body |= {k: v for k, v in fields.items() if v is not None}
    headers = idempotent(idempotency_key)
    request: Record = yield Call("POST", f"{API}/requests", body=body, headers=headers)
    return request


def request_deliveries(request_id: str) -> Exchange[list[Delivery]]:
    deliveries: list[Delivery] = yield Call("GET", f"{API}/requests/{seg(request_id)}/deliveries")
    return deliveries


# -- webhook endpoints and deliveries --------------------------------------------------------------


def create_webhook(
    url: str, events: list[str], description: str | None, shared_with: list[str] | None
) -> Exchange[EndpointWithSecret]:
    body: dict[str, Any] = {"url": url, "events": events}
    if description is not None:
        body["description"] = description
    if shared_with is not None:
        body["shared_with"] = shared_with
    created: EndpointWithSecret = yield Call("POST", f"{API}/webhooks", body=body)
    return created


def list_webhooks(limit: int, cursor: str | None) -> Exchange[EndpointPage]:
    endpoints: EndpointPage = yield Call("GET", f"{API}/webhooks", page(limit, cursor))
    return endpoints


def webhook_call(
    endpoint_id: str, method: str = "GET", suffix: str = "", body: Any = NO_BODY
) -> Call:
    return Call(method, f"{API}/webhooks/{seg(endpoint_id)}{suffix}", body=body)


def get_webhook(endpoint_id: str) -> Exchange[Endpoint]:
    endpoint: Endpoint = yield webhook_call(endpoint_id)
    return endpoint


def update_webhook(
    endpoint_id: str,
    events: list[str] | None,
    enabled: bool | None,
    description: str | None,
    shared_with: list[str] | None,
) -> Exchange[Endpoint]:
    changes = {
        "events": events,
        "enabled": enabled,
        "description": description,
        "shared_with": shared_with,
    }
    body = {k: v for k, v in changes.items() if v is not None}
    endpoint: Endpoint = yield webhook_call(endpoint_id, "PATCH", body=body)
    return endpoint


def delete_webhook(endpoint_id: str) -> Exchange[None]:
    yield webhook_call(endpoint_id, "DELETE")


def rotate_webhook_secret(endpoint_id: str) -> Exchange[EndpointWithSecret]:
    rotated: EndpointWithSecret = yield webhook_call(endpoint_id, "POST", "/rotate-secret")
    return rotated


def webhook_deliveries(endpoint_id: str, limit: int, cursor: str | None) -> Exchange[DeliveryPage]:
    path = f"{API}/webhooks/{seg(endpoint_id)}/deliveries"
    deliveries: DeliveryPage = yield Call("GET", path, page(limit, cursor))
    return deliveries


def get_delivery(delivery_id: str) -> Exchange[Delivery]:
    delivery: Delivery = yield Call("GET", f"{API}/deliveries/{seg(delivery_id)}")
    return delivery


def redeliver(delivery_id: str) -> Exchange[Delivery]:
    delivery: Delivery = yield Call("POST", f"{API}/deliveries/{seg(delivery_id)}/redeliver")
    return delivery
