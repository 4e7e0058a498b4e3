"""The REST calls both SDK clients make, as data: method, path, query, body, headers.

`hitl.sdk.client.HITLClient` and `SyncHITLClient` build every call with these functions and
differ only in how they send it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

API: Final = "/api/v1"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"

NO_BODY: Final = object()


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    body: Any = NO_BODY
    extra_timeout: float = 0.0  # added to the client's timeout (long polls)
    headers: dict[str, str] | None = None


def seg(value: str) -> str:
    return quote(value, safe="")


def waiting(seconds: float | None) -> dict[str, Any]:
    """The keyword arguments of a call that waits ``seconds`` for the thread to come to rest."""
    return {"params": {"wait": seconds}, "extra_timeout": seconds} if seconds is not None else {}


def start_thread(
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


def get_thread(thread_id: str) -> Call:
    return Call("GET", f"{API}/threads/{seg(thread_id)}")


def wait(thread_id: str, seconds: float) -> Call:
    params = {"timeout": seconds}
    return Call("GET", f"{API}/threads/{seg(thread_id)}/wait", params, extra_timeout=seconds)


def list_requests(
    state: str | None,
    graph: str | None,
    thread_id: str | None,
    limit: int,
    cursor: str | None,
    assigned_to: str | None = None,
) -> Call:
    params = {"state": state, "graph": graph, "thread_id": thread_id, "cursor": cursor}
    params["assigned_to"] = assigned_to
    kept: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
    return Call("GET", f"{API}/requests", {**kept, "limit": limit})


def get_request(request_id: str) -> Call:
    return Call("GET", f"{API}/requests/{seg(request_id)}")


def idempotent(key: str | None) -> dict[str, str] | None:
    return {IDEMPOTENCY_HEADER: key} if key is not None else None


def respond(request_id: str, response: Any, idempotency_key: str | None = None) -> Call:
    path = f"{API}/requests/{seg(request_id)}/respond"
    return Call("POST", path, body={"response": response}, headers=idempotent(idempotency_key))


def assign(request_id: str, assignees: list[str], groups: list[str]) -> Call:
    path = f"{API}/requests/{seg(request_id)}/assign"
    return Call("POST", path, body={"assignees": assignees, "groups": groups})


def resume(thread_id: str, answers: dict[str, Any], wait: float | None = None) -> Call:
    body = {"resume": answers}
    return Call("POST", f"{API}/threads/{seg(thread_id)}/resume", body=body, **waiting(wait))


def create_request(
    workflow_id: str,
    callback_webhook: str,
    context: Any,
    fields: dict[str, Any],
    idempotency_key: str | None,
) -> Call:
    body = {"workflow_id": workflow_id, "callback_webhook": callback_webhook, "context": context}
    body |= {k: v for k, v in fields.items() if v is not None}
    return Call("POST", f"{API}/requests", body=body, headers=idempotent(idempotency_key))


def request_deliveries(request_id: str) -> Call:
    return Call("GET", f"{API}/requests/{seg(request_id)}/deliveries")


def create_webhook(
    url: str, events: list[str], description: str | None, shared_with: list[str] | None = None
) -> Call:
    body: dict[str, Any] = {"url": url, "events": events}
    if description is not None:
        body["description"] = description
    if shared_with is not None:
        body["shared_with"] = shared_with
    return Call("POST", f"{API}/webhooks", body=body)


def page(limit: int, cursor: str | None) -> dict[str, Any]:
    return {"limit": limit, **({"cursor": cursor} if cursor else {})}


def list_webhooks(limit: int, cursor: str | None) -> Call:
    return Call("GET", f"{API}/webhooks", page(limit, cursor))


def webhook(endpoint_id: str, method: str = "GET", suffix: str = "", body: Any = NO_BODY) -> Call:
    return Call(method, f"{API}/webhooks/{seg(endpoint_id)}{suffix}", body=body)


def update_webhook(
    endpoint_id: str,
    events: list[str] | None,
    enabled: bool | None,
    description: str | None,
    shared_with: list[str] | None = None,
) -> Call:
    changes = {
        "events": events,
        "enabled": enabled,
        "description": description,
        "shared_with": shared_with,
    }
    body = {k: v for k, v in changes.items() if v is not None}
    return webhook(endpoint_id, "PATCH", body=body)


def webhook_deliveries(endpoint_id: str, limit: int, cursor: str | None) -> Call:
    return Call("GET", f"{API}/webhooks/{seg(endpoint_id)}/deliveries", page(limit, cursor))


def get_delivery(delivery_id: str) -> Call:
    return Call("GET", f"{API}/deliveries/{seg(delivery_id)}")


def redeliver(delivery_id: str) -> Call:
    return Call("POST", f"{API}/deliveries/{seg(delivery_id)}/redeliver")
