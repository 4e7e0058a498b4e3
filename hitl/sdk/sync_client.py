"""`SyncHITLClient`: the calls of `hitl.sdk.HITLClient`, blocking, for scripts without an event
loop. The same operations (`hitl.sdk._calls`); only ``_run`` differs, sending with
``httpx.Client``. The methods' documentation is `HITLClient`'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx

from hitl.sdk import _calls, ask
from hitl.sdk._base import API_KEY_ENV, DEFAULT_TIMEOUT, ClientBase, busy_pause, read
from hitl.sdk.created import SyncCreatedRequests
from hitl.sdk.types import Delivery, DeliveryPage, Endpoint, EndpointPage, EndpointWithSecret

if TYPE_CHECKING:
    from pydantic import BaseModel

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


class SyncHITLClient(ClientBase):
    """The same calls as `HITLClient`, blocking, for scripts without an event loop.
    ``created`` (a `SQLiteCreatedRequests`, say) records the requests `create_request` makes."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        http: httpx.Client | None = None,
        created: SyncCreatedRequests | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        super().__init__(base_url, http.base_url if http else None, timeout, key)
        self.created = created
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client, unless it was passed in."""
        if self._owns_http:
            self._http.close()

    def _run(self, operation: _calls.Exchange[T]) -> T:
        """Send the operation's calls one after another, each answer back into it; its result."""
        call = next(operation)
        while True:
            response = self._http.request(**self._request(call))
            if (pause := busy_pause(call, response)) is not None:
                time.sleep(pause)
                continue
            answer = read(response)
            try:
                call = operation.send(answer)
            except StopIteration as done:
                result: T = done.value
                return result

    def start_thread(
        self,
        graph: str,
        input: dict[str, Any],
        *,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """See `HITLClient.start_thread`."""
        return self._run(_calls.start_thread(graph, input, thread_id, metadata))

    def start_and_wait(
        self,
        graph: str,
        input: dict[str, Any],
        *,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """See `HITLClient.start_and_wait`."""
        return self._run(_calls.start_and_wait(graph, input, thread_id, metadata, timeout))

    def get_thread(self, thread_id: str) -> dict[str, Any]:
        """See `HITLClient.get_thread`."""
        return self._run(_calls.get_thread(thread_id))

    def wait(self, thread_id: str, timeout: float = 30) -> dict[str, Any]:
        """See `HITLClient.wait`."""
        return self._run(_calls.wait(thread_id, timeout))

    def list_requests(
        self,
        *,
        state: str | None = None,
        graph: str | None = None,
        thread_id: str | None = None,
        assigned_to: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """See `HITLClient.list_requests`."""
        return self._run(_calls.list_requests(state, graph, thread_id, assigned_to, limit, cursor))

    def iter_requests(
        self,
        *,
        state: str | None = None,
        graph: str | None = None,
        thread_id: str | None = None,
        limit: int = 50,
    ) -> Iterator[dict[str, Any]]:
        """See `HITLClient.iter_requests`."""
        cursor: str | None = None
        while True:
            page = self.list_requests(
                state=state, graph=graph, thread_id=thread_id, limit=limit, cursor=cursor
            )
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def get_request(self, request_id: str) -> dict[str, Any]:
        """See `HITLClient.get_request`."""
        return self._run(_calls.get_request(request_id))

    def respond(
        self, request_id: str, response: Any, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """See `HITLClient.respond`."""
        return self._run(_calls.respond(request_id, response, idempotency_key))

    def assign(
        self, request_id: str, *, assignees: Sequence[str] = (), groups: Sequence[str] = ()
    ) -> dict[str, Any]:
        """See `HITLClient.assign`."""
        return self._run(_calls.assign(request_id, list(assignees), list(groups)))

    def create_request(
        self,
        workflow_id: str,
        callback_webhook: str | None,
        context: Any,
        *,
        checkpoint_id: str | None = None,
        title: str | None = None,
        description: str | None = None,
        response_schema: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        routing: dict[str, list[str]] | None = None,
        on_timeout: dict[str, Any] | None = None,
        reminders: list[float] | None = None,
    ) -> dict[str, Any]:
        """See `HITLClient.create_request`."""
        fields = {
            "checkpoint_id": checkpoint_id,
            "title": title,
            "description": description,
            "response_schema": response_schema,
            "timeout_seconds": timeout_seconds,
            "metadata": metadata,
            "routing": routing,
            "on_timeout": on_timeout,
            "reminders": reminders,
        }
        request = self._run(
            _calls.create_request(workflow_id, callback_webhook, context, fields, idempotency_key)
        )
        if self.created is not None:
            self.created.record(str(request["id"]), workflow_id)
        return request

    def ask(
        self,
        question: str,
        *,
        response_model: type[M] | None = None,
        assignees: Sequence[str] = (),
        groups: Sequence[str] = (),
        timeout_seconds: float | None = None,
        on_timeout: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        context: Any = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        priority: str | None = None,
        on_behalf_of: str | None = None,
        approval: dict[str, Any] | None = None,
    ) -> Any:
        """See `HITLClient.ask`."""
        asked = ask.Question(
            question,
            response_schema=ask.schema_of(response_model),
            context=context,
            assignees=assignees,
            groups=groups,
            timeout_seconds=timeout_seconds,
            on_timeout=on_timeout,
            idempotency_key=idempotency_key,
            description=description,
            metadata=metadata,
            priority=priority,
            on_behalf_of=on_behalf_of,
            approval=approval,
        )
        return ask.answer_of(self._run(ask.ask(asked)), response_model)

    def wait_for_request(self, request_id: str, timeout: float = 30) -> dict[str, Any]:
        """See `HITLClient.wait_for_request`."""
        return self._run(ask.wait_for_request(request_id, timeout))

    def withdraw(self, request_id: str) -> dict[str, Any]:
        """See `HITLClient.withdraw`."""
        return self._run(ask.withdraw(request_id))

    def request_deliveries(self, request_id: str) -> list[Delivery]:
        """See `HITLClient.request_deliveries`."""
        return self._run(_calls.request_deliveries(request_id))

    def create_webhook(
        self,
        url: str,
        events: list[str],
        *,
        description: str | None = None,
        shared_with: list[str] | None = None,
    ) -> EndpointWithSecret:
        """See `HITLClient.create_webhook`."""
        return self._run(_calls.create_webhook(url, events, description, shared_with))

    def list_webhooks(self, *, limit: int = 50, cursor: str | None = None) -> EndpointPage:
        """See `HITLClient.list_webhooks`."""
        return self._run(_calls.list_webhooks(limit, cursor))

    def get_webhook(self, endpoint_id: str) -> Endpoint:
        """See `HITLClient.get_webhook`."""
        return self._run(_calls.get_webhook(endpoint_id))

    def update_webhook(
        self,
        endpoint_id: str,
        *,
        events: list[str] | None = None,
        enabled: bool | None = None,
        description: str | None = None,
        shared_with: list[str] | None = None,
    ) -> Endpoint:
        """See `HITLClient.update_webhook`."""
        return self._run(
            _calls.update_webhook(endpoint_id, events, enabled, description, shared_with)
        )

    def delete_webhook(self, endpoint_id: str) -> None:
        """See `HITLClient.delete_webhook`."""
        self._run(_calls.delete_webhook(endpoint_id))

    def rotate_webhook_secret(self, endpoint_id: str) -> EndpointWithSecret:
        """See `HITLClient.rotate_webhook_secret`."""
        return self._run(_calls.rotate_webhook_secret(endpoint_id))

    def webhook_deliveries(
        self, endpoint_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> DeliveryPage:
        """See `HITLClient.webhook_deliveries`."""
        return self._run(_calls.webhook_deliveries(endpoint_id, limit, cursor))

    def get_delivery(self, delivery_id: str) -> Delivery:
        """See `HITLClient.get_delivery`."""
        return self._run(_calls.get_delivery(delivery_id))

    def redeliver(self, delivery_id: str) -> Delivery:
        """See `HITLClient.redeliver`."""
        return self._run(_calls.redeliver(delivery_id))

    def resume(self, thread_id: str, answers: dict[str, Any]) -> list[dict[str, Any]]:
        """See `HITLClient.resume`."""
        return self._run(_calls.resume(thread_id, answers))

    def resume_and_wait(
        self, thread_id: str, answers: dict[str, Any], *, timeout: float = 30
    ) -> dict[str, Any]:
        """See `HITLClient.resume_and_wait`."""
        return self._run(_calls.resume_and_wait(thread_id, answers, timeout))
