"""The `Agent` base class: a consumer group on the event bus that handles each event once.

An agent names the event types it wants; ``handle(event)`` does the work (often a graph run in
the service that asks a person) and publishes what follows with `Agent.emit`. Any number of
processes may run the same agent: they share its consumer group, so each event goes to one.

Handling is idempotent by event id:

* before handling, the agent checks its record of handled ids, and afterwards adds the id
  (a Redis key per event, ``hitl:agent:<name>:handled:<id>``, living as long as the bus retains
  events: a redelivery cannot come later than that, and the record shares Redis's fate with
  the stream it guards: if one is lost, so is the other). The agents talk to the service over
  its REST API only; a Postgres table would give every agent process database credentials;
* what an agent emits for an event has an id derived from the agent, the event and the type,
  so a crash between publishing and recording repeats the same event, which the next agent
  skips;
* a person is asked through a service thread whose id derives from the event
  (`Agent.ask_person`): a redelivered event finds the thread started and waits for it instead
  of asking again.

A handler that raises leaves the event to be delivered again after a back-off (2, 4, 8, ...
seconds); after ``HITL_BUS_MAX_DELIVERIES`` deliveries it goes to the dead-letter stream.

An agent that asks through external requests (`Agent.create_request`, answered by a signed
callback to its webhook endpoint) records each request it created in Redis beside its handled
ids (`Agent.created`, ``hitl:agent:<name>:created:<request id>``), and its receiver
(`Agent.webhook_receiver`) takes a callback only for one of those: a validly signed answer to a
request the agent did not ask resumes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, ClassVar

from hitl import bus, bus_names
from hitl._aio import wait_event
from hitl.bus import Bus, Event, Received
from hitl.sdk import ConflictError, HITLClient
from hitl.sdk.created import RedisCreatedRequests
from hitl.sdk.receiver import DedupeStore, Handler, WebhookReceiver

log = logging.getLogger("hitl.agents")

_EMITTED = uuid.UUID("6c6f5c1e-8f4a-4f0e-9a57-1f0c2b4b7a11")  # namespace of derived event ids


class AgentFailed(Exception):
    """A graph the agent started in the service failed."""


class _Stopping(Exception):
    """The agent stops while a handler waits: the handler gives its event back."""


class Agent:
    """Subclass, set `name` and `subscribes`, write `handle`; run with ``hitl agent mod:Class``."""

    name: ClassVar[str] = ""
    subscribes: ClassVar[tuple[str, ...]] = ()
    concurrency: ClassVar[int] = 64  # events handled at once (most wait for a person)
    poll_interval: ClassVar[float] = 1.0  # how often a thread waiting for a person is looked at

    def __init__(self, bus: Bus, hitl: HITLClient | None = None) -> None:
        if not self.name or not self.subscribes:
            raise TypeError(f"{type(self).__name__} must set name and subscribes")
        self.bus = bus
        self.hitl = hitl
        self.source = f"hitl/agents/{self.name}"
        #: The external requests this agent created, for its webhook receiver to check.
        self.created = RedisCreatedRequests(
            bus.redis, bus_names.created_requests_prefix(bus.prefix, self.name)
        )
        self._stop = asyncio.Event()

    async def handle(self, event: Event) -> None:
        """Do the work for ``event``; publish what follows with `emit`. Raise to retry later."""
        raise NotImplementedError

    # -- for handlers ----------------------------------------------------------------------------

    async def emit(
        self, type: str, data: Any, *, cause: Event, subject: str | None = None
    ) -> Event:
        """Publish the event that follows ``cause`` (same subject unless given).

        Its id derives from this agent, ``cause`` and ``type``: emitting again for the same
        cause (after a crash) repeats the same event rather than making a new one.
        """
        event_id = str(uuid.uuid5(_EMITTED, f"{self.name}\n{cause.source}\n{cause.id}\n{type}"))
        event = Event(
            event_id,
            type,
            self.source,
            subject if subject is not None else cause.subject,
            bus.now(),
            data,
        )
        await self.bus.publish_many([event])
        log.info("%s: %s -> %s (%s)", self.name, cause.type, type, event.subject)
        return event

    async def ask_person(
        self, graph: str, input: dict[str, Any], *, cause: Event, timeout: float | None = None
    ) -> dict[str, Any]:
        """Run ``graph`` in the service for ``cause`` (it may ask people) and return the
        values it completed with. A thread already started for ``cause`` is waited for."""
        if self.hitl is None:
            raise RuntimeError(f"agent {self.name} has no service client")
        thread_id = f"{self.name}.{cause.id}"[:200]
        try:
            await self.hitl.start_thread(
                graph, input, thread_id=thread_id, metadata={"agent": self.name, "event": cause.id}
            )
            log.info("%s: asked in thread %s (%s)", self.name, thread_id, graph)
        except ConflictError:
            pass  # started by an earlier delivery of this event
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            thread = await self.hitl.wait(thread_id, timeout=60)
            if thread["status"] == "completed":
                values: dict[str, Any] = thread["values"] or {}
                return values
            if thread["status"] == "failed":
                raise AgentFailed(f"thread {thread_id} failed: {thread.get('error')}")
            if deadline is not None and loop.time() > deadline:
                raise TimeoutError(f"thread {thread_id} still waits for a person")
            # Interrupted: a person has to answer. Look again in a while.
            if await wait_event(self._stop, self.poll_interval):
                raise _Stopping  # the event is given back to the group

    async def create_request(
        self, workflow_id: str, callback_webhook: str, context: Any, **terms: Any
    ) -> dict[str, Any]:
        """Ask a person through an external request (`HITLClient.create_request`, ``terms``
        as it takes them), answered by a signed callback to ``callback_webhook``. The request
        is recorded as this agent's before this returns, so `webhook_receiver` takes its
        callback; give an ``idempotency_key`` so a retry after a crash records the same id."""
        if self.hitl is None:
            raise RuntimeError(f"agent {self.name} has no service client")
        request = await self.hitl.create_request(workflow_id, callback_webhook, context, **terms)
        await self.created.add(str(request["id"]), workflow_id)
        log.info("%s: asked in request %s (%s)", self.name, request["id"], workflow_id)
        return request

    def webhook_receiver(
        self, secrets: str | list[str], handler: Handler, *, store: DedupeStore
    ) -> WebhookReceiver:
        """The receiver for this agent's callbacks: it takes only those about requests this
        agent created (`create_request`), from any of its processes."""
        return WebhookReceiver(secrets, handler, store=store, requests=self.created)

    # -- running ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Handle events until ``stop`` is set; then give back what is unfinished."""
        stop = stop or self._stop
        group = bus_names.agent_group(self.name)
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        log.info("agent %s handling %s", self.name, ", ".join(self.subscribes))
        async with self.bus.subscribe(group, self.subscribes, stop=stop) as events:
            async for event in events:
                await slots.acquire()
                task = asyncio.create_task(self._handle_one(event), name=f"agent-{event.id}")
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                task.add_done_callback(lambda _t: slots.release())
                if stop.is_set():
                    break
            self._stop.set()
            if tasks:  # a grace period, then the rest goes back to the group
                _, late = await asyncio.wait(tasks, timeout=5)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)

    async def _handle_one(self, event: Received) -> None:
        key = bus_names.handled_key(self.bus.prefix, self.name, event.id)
        redis = self.bus.redis
        try:
            if await redis.exists(key):
                await event.ack()  # handled before (a redelivery, or a repeated emit)
                return
            await self.handle(event)
            await redis.set(key, "1", ex=max(1, int(self.bus.retention + self.bus.claim_idle)))
            await event.ack()
        except _Stopping:
            with contextlib.suppress(Exception):
                await event.release()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await event.release()
            raise
        except Exception:
            retry = min(self.bus.claim_idle, 2.0**event.deliveries)
            log.exception(
                "%s: %s %s failed (delivery %d); again in %.0fs",
                self.name,
                event.type,
                event.id,
                event.deliveries,
                retry,
            )
            with contextlib.suppress(Exception):
                await event.release(after=retry)
