"""The async client for the REST API (``/api/v1``): `HITLClient`.

::

    async with HITLClient("http://127.0.0.1:8000", api_key="hitl_...") as hitl:
        thread_id = await hitl.start_thread("code_review", {"diff": diff})
        thread = await hitl.wait(thread_id)            # interrupted, completed or failed
        request_id = thread["interrupts"][0]["request_id"]
        await hitl.respond(request_id, {"decision": "approve"})
        thread = await hitl.wait(thread_id)

Records come back as the JSON the service sends (plain dicts); the shapes are in the API's
OpenAPI document at ``/docs``. An error status raises a `HITLClientError` subclass
(`hitl.sdk.errors`). `SyncHITLClient` (`hitl.sdk.sync_client`) makes the same calls blocking.

Both clients run the same operations (`hitl.sdk._calls`: each a generator of HTTP calls, no
I/O); a method here states its arguments and says what it does, and ``_run`` sends the calls.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

import httpx

from hitl.sdk import _calls, ask
from hitl.sdk._base import API_KEY_ENV, DEFAULT_TIMEOUT, ClientBase, busy_pause, read
from hitl.sdk._calls import MAX_WAIT_PER_CALL, SETTLED
from hitl.sdk.created import CreatedRequests
from hitl.sdk.errors import (
    ConflictError,
    ForbiddenError,
    HITLClientError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
    WaitTimeout,
)
from hitl.sdk.sync_client import SyncHITLClient
from hitl.sdk.types import Delivery, DeliveryPage, Endpoint, EndpointPage, EndpointWithSecret

if TYPE_CHECKING:
    from pydantic import BaseModel

# Names this module held before the errors and the sync client had modules of their own.
__all__ = [
    "API",
    "API_KEY_ENV",
    "DEFAULT_TIMEOUT",
    "IDEMPOTENCY_HEADER",
    "MAX_WAIT_PER_CALL",
    "SETTLED",
    "ConflictError",
    "ForbiddenError",
    "HITLClient",
    "HITLClientError",
    "InvalidInputError",
    "NotFoundError",
    "SyncHITLClient",
    "UnauthenticatedError",
    "WaitTimeout",
]

API: Final = _calls.API
IDEMPOTENCY_HEADER: Final = _calls.IDEMPOTENCY_HEADER

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


class HITLClient(ClientBase):
    """Async client for the service's REST API.

    ``timeout`` is the seconds each call may take (a long poll gets its wait on top).
    ``api_key`` (default: the ``HITL_API_KEY`` environment variable) is sent as
    ``Authorization: Bearer``; what the client may do is the key's scopes, and the key's name
    is recorded with every answer and change (``hitl apikey create``). ``http`` lets a caller
    bring its own ``httpx.AsyncClient`` (an ASGI transport in tests, custom TLS or proxies); the
    caller then closes it. ``created`` records every request `create_request` makes, for the
    agent's `WebhookReceiver` to resume only those (`hitl.sdk.created`). Use as
    ``async with HITLClient(url) as hitl:`` or call `aclose` when done.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        http: httpx.AsyncClient | None = None,
        created: CreatedRequests | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        super().__init__(base_url, http.base_url if http else None, timeout, key)
        self.created = created
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was passed in."""
        if self._owns_http:
            await self._http.aclose()

    async def _run(self, operation: _calls.Exchange[T]) -> T:
        """Send the operation's calls one after another, each answer back into it; its result."""
        call = next(operation)
        while True:
            response = await self._http.request(**self._request(call))
            if (pause := busy_pause(call, response)) is not None:
                await asyncio.sleep(pause)
                continue
            answer = read(response)
            try:
                call = operation.send(answer)
            except StopIteration as done:
                result: T = done.value
                return result

    async def start_thread(
        self,
        graph: str,
        input: dict[str, Any],
        *,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Start ``graph`` on ``input`` in a new thread; its id (``thread_id`` if given).

        The run is queued: `wait` for it to reach its first interrupt or its end.
        """
        return await self._run(_calls.start_thread(graph, input, thread_id, metadata))

    async def start_and_wait(
        self,
        graph: str,
        input: dict[str, Any],
        *,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Start ``graph`` on ``input`` and return the thread once it is interrupted,
        completed or failed (as `wait` does), in one call when it settles within the
        service's bound. Raises `WaitTimeout` after ``timeout`` seconds."""
        return await self._run(_calls.start_and_wait(graph, input, thread_id, metadata, timeout))

    async def get_thread(self, thread_id: str) -> dict[str, Any]:
        """The thread now: status, values, pending ``interrupts`` (with their request ids)."""
        return await self._run(_calls.get_thread(thread_id))

    async def wait(self, thread_id: str, timeout: float = 30) -> dict[str, Any]:
        """The thread once it is interrupted, completed or failed (as `get_thread` shows it).

        Long-polls the service, so it returns as soon as the thread settles. Raises
        `WaitTimeout` if it has not within ``timeout`` seconds.
        """
        return await self._run(_calls.wait(thread_id, timeout))

    async def list_requests(
        self,
        *,
        state: str | None = None,
        graph: str | None = None,
        thread_id: str | None = None,
        assigned_to: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of the inbox, newest first: ``{"items": [...], "next_cursor": ...}``.
        ``assigned_to`` (a username) keeps the requests assigned to that user or their groups.

        Pass ``next_cursor`` back as ``cursor`` for the next page, or use `iter_requests`.
        """
        return await self._run(
            _calls.list_requests(state, graph, thread_id, assigned_to, limit, cursor)
        )

    async def iter_requests(
        self,
        *,
        state: str | None = None,
        graph: str | None = None,
        thread_id: str | None = None,
        limit: int = 50,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every request that matches, page after page (``limit`` per page)."""
        cursor: str | None = None
        while True:
            page = await self.list_requests(
                state=state, graph=graph, thread_id=thread_id, limit=limit, cursor=cursor
            )
            for item in page["items"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def get_request(self, request_id: str) -> dict[str, Any]:
        """One request: its question (``value``), ``response_schema``, ``state``, answer."""
        return await self._run(_calls.get_request(request_id))

    async def respond(
        self, request_id: str, response: Any, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Answer a pending request; the thread resumes with it. Returns the request.

        Raises `InvalidInputError` if the answer breaks the request's response schema (the
        request stays pending) and `ConflictError` (with ``state``) if it is not pending.
        With ``idempotency_key``, sending the same answer again replays the first response.
        """
        return await self._run(_calls.respond(request_id, response, idempotency_key))

    async def assign(
        self, request_id: str, *, assignees: Sequence[str] = (), groups: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Assign a pending request to these users and groups (both empty: anyone)."""
        return await self._run(_calls.assign(request_id, list(assignees), list(groups)))

    async def create_request(
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
        """Ask a person on behalf of an agent outside the service (an external request).

        ``callback_webhook`` must be the URL of a registered, enabled endpoint (`create_webhook`):
        the answer is POSTed there, signed with its secret; None: no callback, wait for the
        answer with `wait_for_request` (or use `ask`, which does it all). With
        ``idempotency_key``, a retry with the same arguments replays the first response
        instead of asking twice (a different body under the same key is an
        `InvalidInputError`, one still in flight a `ConflictError`). ``routing``
        (``{"assignees": [...], "groups": [...]}``), ``timeout_seconds``, ``on_timeout`` and
        ``reminders`` are its assignment and deadline terms (see docs/assignment.md). The
        request's ``id`` is recorded in the client's ``created`` store, if it has one, before
        this returns.
        """
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
        request = await self._run(
            _calls.create_request(workflow_id, callback_webhook, context, fields, idempotency_key)
        )
        if self.created is not None:
            await self.created.add(str(request["id"]), workflow_id)
        return request

    async def ask(
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
        """Ask a person ``question`` and wait for the answer: an instance of
        ``response_model`` (a pydantic model; its JSON Schema becomes the form and the
        service's validation), or the answer's JSON without one. Raises `RequestExpired` if
        the deadline (``timeout_seconds``) passes unanswered (``on_timeout`` decides: a
        default answer comes back as an answer), `RequestWithdrawn` if it was withdrawn.

        With ``idempotency_key`` a caller that restarts and asks again with the same key and
        question gets the same request (and its answer) instead of asking twice (24 h).
        ``context`` (default ``{"question": question}``) is what the person is shown.
        ``priority`` (low, normal, high, urgent), ``on_behalf_of`` (the user asked for, who may
        not answer under four-eyes) and ``approval`` (quorum terms such as ``{"min": 2, "from":
        {"groups": ["leads"]}}``, whose answer is ``{"decision", "reason", "votes"}``) are as in
        docs/approvals.md. See `hitl.sdk.ask`.
        """
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
        return ask.answer_of(await self._run(ask.ask(asked)), response_model)

    async def wait_for_request(self, request_id: str, timeout: float = 30) -> dict[str, Any]:
        """The request once it is answered, expired or withdrawn, or as it is after
        ``timeout`` seconds (at most 300): one long poll. Only its creator (or an admin) may."""
        return await self._run(ask.wait_for_request(request_id, timeout))

    async def withdraw(self, request_id: str) -> dict[str, Any]:
        """Withdraw a pending request this client created: it is ``cancelled``, and an answer
        after that gets 409 (`ConflictError`, as does withdrawing one already answered)."""
        return await self._run(ask.withdraw(request_id))

    async def request_deliveries(self, request_id: str) -> list[Delivery]:
        """The webhook deliveries about a request (its callback and its events), oldest first,
        each with every attempt."""
        return await self._run(_calls.request_deliveries(request_id))

    # -- webhook endpoints and deliveries --

    async def create_webhook(
        self,
        url: str,
        events: list[str],
        *,
        description: str | None = None,
        shared_with: list[str] | None = None,
    ) -> EndpointWithSecret:
        """Register an endpoint for ``events`` (``["*"]`` for all, ``[]`` for request
        callbacks only), owned by this client's key: only it may name the endpoint as a
        request's callback, unless an admin shares it (``shared_with``: ``key:<id>``,
        ``user:<id>`` or ``*``; admins only). The answer holds the signing ``secret``: the
        only time it is shown."""
        return await self._run(_calls.create_webhook(url, events, description, shared_with))

    async def list_webhooks(self, *, limit: int = 50, cursor: str | None = None) -> EndpointPage:
        """One page of the endpoints, newest first."""
        return await self._run(_calls.list_webhooks(limit, cursor))

    async def get_webhook(self, endpoint_id: str) -> Endpoint:
        return await self._run(_calls.get_webhook(endpoint_id))

    async def update_webhook(
        self,
        endpoint_id: str,
        *,
        events: list[str] | None = None,
        enabled: bool | None = None,
        description: str | None = None,
        shared_with: list[str] | None = None,
    ) -> Endpoint:
        """Change what is given; enabling a disabled endpoint again clears its failures.
        ``shared_with`` (admins; an owner may only clear it with ``[]``) replaces who else
        may name the endpoint as a callback."""
        return await self._run(
            _calls.update_webhook(endpoint_id, events, enabled, description, shared_with)
        )

    async def delete_webhook(self, endpoint_id: str) -> None:
        await self._run(_calls.delete_webhook(endpoint_id))

    async def rotate_webhook_secret(self, endpoint_id: str) -> EndpointWithSecret:
        """A new secret; the old one keeps signing alongside it for the grace period."""
        return await self._run(_calls.rotate_webhook_secret(endpoint_id))

    async def webhook_deliveries(
        self, endpoint_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> DeliveryPage:
        """One page of the endpoint's deliveries, newest first, each with every attempt."""
        return await self._run(_calls.webhook_deliveries(endpoint_id, limit, cursor))

    async def get_delivery(self, delivery_id: str) -> Delivery:
        """One delivery (``delivery_id`` is its ``webhook-id``) with every attempt."""
        return await self._run(_calls.get_delivery(delivery_id))

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send a delivery again now, with the same ``webhook-id``."""
        return await self._run(_calls.redeliver(delivery_id))

    async def resume(self, thread_id: str, answers: dict[str, Any]) -> list[dict[str, Any]]:
        """Answer several interrupts of a thread at once, by interrupt id: all or none."""
        return await self._run(_calls.resume(thread_id, answers))

    async def resume_and_wait(
        self, thread_id: str, answers: dict[str, Any], *, timeout: float = 30
    ) -> dict[str, Any]:
        """`resume`, then the thread once the resumed run left it at rest (as `wait`)."""
        return await self._run(_calls.resume_and_wait(thread_id, answers, timeout))
