"""Clients for the REST API (``/api/v1``): `HITLClient` (async) and `SyncHITLClient`.

::

    async with HITLClient("http://127.0.0.1:8000", api_key="hitl_...") as hitl:
        thread_id = await hitl.start_thread("code_review", {"diff": diff})
        thread = await hitl.wait(thread_id)            # interrupted, completed or failed
        request_id = thread["interrupts"][0]["request_id"]
        await hitl.respond(request_id, {"decision": "approve"})
        thread = await hitl.wait(thread_id)

Records come back as the JSON the service sends (plain dicts); the shapes are in the API's
OpenAPI document at ``/docs``. An error status becomes a `HITLClientError` carrying the status
code and the server's ``detail``, with a subclass per status a caller handles differently
(404 `NotFoundError`, 409 `ConflictError`, 422 `InvalidInputError`). Each subclass is also the
matching `hitl.errors` class, so ``except errors.Conflict`` works on either side of the wire.
Network failures are httpx's own exceptions (``httpx.TransportError``).

Both clients build their calls with the same functions (`hitl.sdk._calls`); only the sending
differs.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Any, Final, Self

import httpx

from hitl import errors
from hitl.sdk import _calls
from hitl.sdk.created import CreatedRequests, SyncCreatedRequests
from hitl.sdk.types import Delivery, DeliveryPage, Endpoint, EndpointPage, EndpointWithSecret

API: Final = _calls.API
API_KEY_ENV: Final = "HITL_API_KEY"
IDEMPOTENCY_HEADER: Final = _calls.IDEMPOTENCY_HEADER
SETTLED: Final = frozenset({"interrupted", "completed", "failed"})
"""Thread statuses `HITLClient.wait` returns on: nothing happens until someone acts."""
MAX_WAIT_PER_CALL: Final = 300.0  # the server's upper bound for ``/wait?timeout=``
DEFAULT_TIMEOUT: Final = 30.0


# -- errors ----------------------------------------------------------------------------------------


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


_BY_STATUS: dict[int, type[HITLClientError]] = {
    401: UnauthenticatedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidInputError,
}


def _read(response: httpx.Response) -> Any:
    """The response's JSON body, or the `HITLClientError` its status stands for."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:  # not JSON: a proxy's error page, say
        detail = response.text
    raise _BY_STATUS.get(response.status_code, HITLClientError)(response.status_code, detail)


class _Base:
    """What both clients share: where the service is, who acts, how a call becomes a request."""

    def __init__(
        self,
        base_url: str | None,
        http_base_url: httpx.URL | None,
        timeout: float,
        api_key: str | None,
    ) -> None:
        url = base_url if base_url is not None else str(http_base_url or "")
        if not url:
            raise ValueError("give base_url (or an httpx client that has one)")
        self.base_url = url.rstrip("/")
        self.timeout = timeout
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def request_url(self, request_id: str) -> str:
        """The request's page in the web UI, ``{base_url}/requests/{id}``: where a person reads
        and answers it, so the link to put in a notification or a log line."""
        return f"{self.base_url}/requests/{_calls.seg(request_id)}"

    def _kwargs(self, call: _calls.Call) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "params": call.params,
            "headers": {**self._auth, **(call.headers or {})} or None,
            "timeout": self.timeout + call.extra_timeout,
        }
        if call.body is not _calls.NO_BODY:
            kwargs["json"] = call.body
        return kwargs


def _wait_slice(deadline: float) -> float:
    """How long the next long poll may last: what is left, within the server's bound."""
    return round(max(0.0, min(deadline - time.monotonic(), MAX_WAIT_PER_CALL)), 3)


# -- the async client -----------------------------------------------------------------------------


class HITLClient(_Base):
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

    async def _send(self, call: _calls.Call) -> Any:
        response = await self._http.request(
            call.method, self.base_url + call.path, **self._kwargs(call)
        )
        return _read(response)

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
        created: dict[str, Any] = await self._send(
            _calls.start_thread(graph, input, thread_id, metadata)
        )
        return str(created["thread_id"])

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
        deadline = time.monotonic() + timeout
        call = _calls.start_thread(graph, input, thread_id, metadata, _wait_slice(deadline))
        return await self._settled(await self._send(call), timeout, deadline)

    async def _settled(
        self, thread: dict[str, Any], timeout: float, deadline: float
    ) -> dict[str, Any]:
        """``thread`` if at rest, else what `wait` gets in the time left of ``timeout``."""
        if thread["status"] in SETTLED:
            return thread
        if time.monotonic() >= deadline:
            raise WaitTimeout(thread["thread_id"], timeout, thread)
        return await self.wait(thread["thread_id"], max(deadline - time.monotonic(), 0.0))

    async def get_thread(self, thread_id: str) -> dict[str, Any]:
        """The thread now: status, values, pending ``interrupts`` (with their request ids)."""
        thread: dict[str, Any] = await self._send(_calls.get_thread(thread_id))
        return thread

    async def wait(self, thread_id: str, timeout: float = 30) -> dict[str, Any]:
        """The thread once it is interrupted, completed or failed (as `get_thread` shows it).

        Long-polls the service, so it returns as soon as the thread settles. Raises
        `WaitTimeout` if it has not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            thread: dict[str, Any] = await self._send(_calls.wait(thread_id, _wait_slice(deadline)))
            if thread["status"] in SETTLED:
                return thread
            if time.monotonic() >= deadline:
                raise WaitTimeout(thread_id, timeout, thread)

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
        page: dict[str, Any] = await self._send(
            _calls.list_requests(state, graph, thread_id, limit, cursor, assigned_to)
        )
        return page

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
        request: dict[str, Any] = await self._send(_calls.get_request(request_id))
        return request

    async def respond(
        self, request_id: str, response: Any, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Answer a pending request; the thread resumes with it. Returns the request.

        Raises `InvalidInputError` if the answer breaks the request's response schema (the
        request stays pending) and `ConflictError` (with ``state``) if it is not pending.
        With ``idempotency_key``, sending the same answer again replays the first response.
        """
        request: dict[str, Any] = await self._send(
            _calls.respond(request_id, response, idempotency_key)
        )
        return request

    async def assign(
        self, request_id: str, *, assignees: Sequence[str] = (), groups: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Assign a pending request to these users and groups (both empty: anyone)."""
        request: dict[str, Any] = await self._send(
            _calls.assign(request_id, list(assignees), list(groups))
        )
        return request

    async def create_request(
        self,
        workflow_id: str,
        callback_webhook: str,
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
        the answer is POSTed there, signed with its secret. With ``idempotency_key``, a retry
        with the same arguments replays the first response instead of asking twice (a
        different body under the same key is an `InvalidInputError`, one still in flight a
        `ConflictError`). ``routing`` (``{"assignees": [...], "groups": [...]}``),
        ``timeout_seconds``, ``on_timeout`` and ``reminders`` are its assignment and deadline
        terms (see the README's "Assignment and deadlines"). The request's ``id`` is recorded
        in the client's ``created`` store, if it has one, before this returns.
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
        call = _calls.create_request(
            workflow_id, callback_webhook, context, fields, idempotency_key
        )
        request: dict[str, Any] = await self._send(call)
        if self.created is not None:
            await self.created.add(str(request["id"]), workflow_id)
        return request

    async def request_deliveries(self, request_id: str) -> list[Delivery]:
        """The webhook deliveries about a request (its callback and its events), oldest first,
        each with every attempt."""
        found: list[Delivery] = await self._send(_calls.request_deliveries(request_id))
        return found

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
        created: EndpointWithSecret = await self._send(
            _calls.create_webhook(url, events, description, shared_with)
        )
        return created

    async def list_webhooks(self, *, limit: int = 50, cursor: str | None = None) -> EndpointPage:
        """One page of the endpoints, newest first."""
        page: EndpointPage = await self._send(_calls.list_webhooks(limit, cursor))
        return page

    async def get_webhook(self, endpoint_id: str) -> Endpoint:
        endpoint: Endpoint = await self._send(_calls.webhook(endpoint_id))
        return endpoint

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
        call = _calls.update_webhook(endpoint_id, events, enabled, description, shared_with)
        endpoint: Endpoint = await self._send(call)
        return endpoint

    async def delete_webhook(self, endpoint_id: str) -> None:
        await self._send(_calls.webhook(endpoint_id, "DELETE"))

    async def rotate_webhook_secret(self, endpoint_id: str) -> EndpointWithSecret:
        """A new secret; the old one keeps signing alongside it for the grace period."""
        rotated: EndpointWithSecret = await self._send(
            _calls.webhook(endpoint_id, "POST", "/rotate-secret")
        )
        return rotated

    async def webhook_deliveries(
        self, endpoint_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> DeliveryPage:
        """One page of the endpoint's deliveries, newest first, each with every attempt."""
        page: DeliveryPage = await self._send(_calls.webhook_deliveries(endpoint_id, limit, cursor))
        return page

    async def get_delivery(self, delivery_id: str) -> Delivery:
        """One delivery (``delivery_id`` is its ``webhook-id``) with every attempt."""
        delivery: Delivery = await self._send(_calls.get_delivery(delivery_id))
        return delivery

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send a delivery again now, with the same ``webhook-id``."""
        delivery: Delivery = await self._send(_calls.redeliver(delivery_id))
        return delivery

    async def resume(self, thread_id: str, answers: dict[str, Any]) -> list[dict[str, Any]]:
        """Answer several interrupts of a thread at once, by interrupt id: all or none."""
        answered: list[dict[str, Any]] = await self._send(_calls.resume(thread_id, answers))
        return answered

    async def resume_and_wait(
        self, thread_id: str, answers: dict[str, Any], *, timeout: float = 30
    ) -> dict[str, Any]:
        """`resume`, then the thread once the resumed run left it at rest (as `wait`)."""
        deadline = time.monotonic() + timeout
        call = _calls.resume(thread_id, answers, _wait_slice(deadline))
        return await self._settled(await self._send(call), timeout, deadline)


# -- the sync client ------------------------------------------------------------------------------


class SyncHITLClient(_Base):
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

    def _send(self, call: _calls.Call) -> Any:
        response = self._http.request(call.method, self.base_url + call.path, **self._kwargs(call))
        return _read(response)

    def start_thread(
        self,
        graph: str,
        input: dict[str, Any],
        *,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """See `HITLClient.start_thread`."""
        created: dict[str, Any] = self._send(_calls.start_thread(graph, input, thread_id, metadata))
        return str(created["thread_id"])

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
        deadline = time.monotonic() + timeout
        call = _calls.start_thread(graph, input, thread_id, metadata, _wait_slice(deadline))
        return self._settled(self._send(call), timeout, deadline)

    def _settled(self, thread: dict[str, Any], timeout: float, deadline: float) -> dict[str, Any]:
        if thread["status"] in SETTLED:
            return thread
        if time.monotonic() >= deadline:
            raise WaitTimeout(thread["thread_id"], timeout, thread)
        return self.wait(thread["thread_id"], max(deadline - time.monotonic(), 0.0))

    def get_thread(self, thread_id: str) -> dict[str, Any]:
        """See `HITLClient.get_thread`."""
        thread: dict[str, Any] = self._send(_calls.get_thread(thread_id))
        return thread

    def wait(self, thread_id: str, timeout: float = 30) -> dict[str, Any]:
        """See `HITLClient.wait`."""
        deadline = time.monotonic() + timeout
        while True:
            thread: dict[str, Any] = self._send(_calls.wait(thread_id, _wait_slice(deadline)))
            if thread["status"] in SETTLED:
                return thread
            if time.monotonic() >= deadline:
                raise WaitTimeout(thread_id, timeout, thread)

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
        page: dict[str, Any] = self._send(
            _calls.list_requests(state, graph, thread_id, limit, cursor, assigned_to)
        )
        return page

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
        request: dict[str, Any] = self._send(_calls.get_request(request_id))
        return request

    def respond(
        self, request_id: str, response: Any, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """See `HITLClient.respond`."""
        request: dict[str, Any] = self._send(_calls.respond(request_id, response, idempotency_key))
        return request

    def assign(
        self, request_id: str, *, assignees: Sequence[str] = (), groups: Sequence[str] = ()
    ) -> dict[str, Any]:
        """See `HITLClient.assign`."""
        request: dict[str, Any] = self._send(
            _calls.assign(request_id, list(assignees), list(groups))
        )
        return request

    def create_request(
        self,
        workflow_id: str,
        callback_webhook: str,
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
        call = _calls.create_request(
            workflow_id, callback_webhook, context, fields, idempotency_key
        )
        request: dict[str, Any] = self._send(call)
        if self.created is not None:
            self.created.record(str(request["id"]), workflow_id)
        return request

    def request_deliveries(self, request_id: str) -> list[Delivery]:
        """See `HITLClient.request_deliveries`."""
        found: list[Delivery] = self._send(_calls.request_deliveries(request_id))
        return found

    def create_webhook(
        self,
        url: str,
        events: list[str],
        *,
        description: str | None = None,
        shared_with: list[str] | None = None,
    ) -> EndpointWithSecret:
        """See `HITLClient.create_webhook`."""
        created: EndpointWithSecret = self._send(
            _calls.create_webhook(url, events, description, shared_with)
        )
        return created

    def list_webhooks(self, *, limit: int = 50, cursor: str | None = None) -> EndpointPage:
        """See `HITLClient.list_webhooks`."""
        page: EndpointPage = self._send(_calls.list_webhooks(limit, cursor))
        return page

    def get_webhook(self, endpoint_id: str) -> Endpoint:
        """See `HITLClient.get_webhook`."""
        endpoint: Endpoint = self._send(_calls.webhook(endpoint_id))
        return endpoint

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
        endpoint: Endpoint = self._send(
            _calls.update_webhook(endpoint_id, events, enabled, description, shared_with)
        )
        return endpoint

    def delete_webhook(self, endpoint_id: str) -> None:
        """See `HITLClient.delete_webhook`."""
        self._send(_calls.webhook(endpoint_id, "DELETE"))

    def rotate_webhook_secret(self, endpoint_id: str) -> EndpointWithSecret:
        """See `HITLClient.rotate_webhook_secret`."""
        rotated: EndpointWithSecret = self._send(
            _calls.webhook(endpoint_id, "POST", "/rotate-secret")
        )
        return rotated

    def webhook_deliveries(
        self, endpoint_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> DeliveryPage:
        """See `HITLClient.webhook_deliveries`."""
        page: DeliveryPage = self._send(_calls.webhook_deliveries(endpoint_id, limit, cursor))
        return page

    def get_delivery(self, delivery_id: str) -> Delivery:
        """See `HITLClient.get_delivery`."""
        delivery: Delivery = self._send(_calls.get_delivery(delivery_id))
        return delivery

    def redeliver(self, delivery_id: str) -> Delivery:
        """See `HITLClient.redeliver`."""
        delivery: Delivery = self._send(_calls.redeliver(delivery_id))
        return delivery

    def resume(self, thread_id: str, answers: dict[str, Any]) -> list[dict[str, Any]]:
        """See `HITLClient.resume`."""
        answered: list[dict[str, Any]] = self._send(_calls.resume(thread_id, answers))
        return answered

    def resume_and_wait(
        self, thread_id: str, answers: dict[str, Any], *, timeout: float = 30
    ) -> dict[str, Any]:
        """See `HITLClient.resume_and_wait`."""
        deadline = time.monotonic() + timeout
        call = _calls.resume(thread_id, answers, _wait_slice(deadline))
        return self._settled(self._send(call), timeout, deadline)
