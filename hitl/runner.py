"""The runner: claims queued runs and executes them with LangGraph, one thread at a time.

Executing a run is written to be repeatable, because a worker may die at any point and the run
is then executed again by another (after its lease expires):

1. gather the answered requests (tying them to the run) and read the thread's checkpoint,
   unless it is known to be the one the thread's last run recorded (see `Runner._read`);
2. decide the input from the checkpoint, not from what the run row hoped for (`plan`, a pure
   function): the start input only if the thread has no checkpoint yet;
   ``Command(resume={interrupt_id: answer})`` for the answers whose interrupt is still pending;
   ``None`` to continue a run that crashed mid-way; nothing at all if the checkpoint already is
   at rest (the crash came after LangGraph's commit);
3. run the graph; LangGraph commits the checkpoint; how each answer ends follows (`settle`);
4. in one statement: record a request per pending interrupt (with its assignment and deadline,
   `hitl.deadlines`), close the applied and the stale requests, set the thread's status, write
   the events, finish the run (only if we still hold its lease) and queue the next run if
   answers arrived meanwhile.

A deadline's answer (`hitl.timers`) is applied like a person's: a default value or the expiry
marker resumes the interrupt; an expiry with ``thread: fail`` fails the thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.errors import is_invalid_resume
from langgraph.pregel import Pregel
from langgraph.types import Command, Interrupt, StateSnapshot
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import db, deadlines, effects, logcontext, metrics, requests, runs, workers
from hitl._aio import wait_event
from hitl._failpoints import failpoint
from hitl.checkpointer import NEW_THREAD
from hitl.config import Settings
from hitl.db.sql import runs as runs_sql
from hitl.registry import GraphRegistry, ServedGraphs, assistant_id
from hitl.run_streams import RunStreams, StreamView
from hitl.runs import ClaimedRun
from hitl.thread_watch import Waiters
from hitl.validation import to_json, unusable

log = logging.getLogger("hitl.runner")

_NOTHING = object()
# The key under which `invoke` returns the interrupts a run stopped at (LangGraph >= 0.4).
_INTERRUPTS = "__interrupt__"


@dataclass(frozen=True)
class _Rest:
    """Where a thread stopped: its pending interrupts, the nodes still due, its values."""

    interrupts: list[Interrupt]
    next: tuple[str, ...]
    values: Any

    @classmethod
    def of(cls, snapshot: StateSnapshot) -> _Rest:
        return cls(list(snapshot.interrupts), tuple(snapshot.next), snapshot.values)


# -- the decision: pure functions of the checkpoint and the answers, tested alone -----------------


def is_fresh(run: ClaimedRun) -> bool:
    """The first attempt of a new thread's start run, or of the first turn of a thread created
    empty (marked when queued): no checkpoint yet, no answers."""
    first = run.kind == "start" or (run.kind == "input" and bool(run.options.get("fresh")))
    return first and run.attempts == 1


def steps_left(state: StateSnapshot) -> bool:
    """Whether the checkpoint has steps to continue with no interrupt pending: tasks not run
    (``next``), or tasks that ran and saved their writes while the checkpoint after them was
    never written (a crash, Postgres lost). LangGraph leaves the latter out of ``next``;
    invoking with None applies their writes and goes on. A finished graph has no tasks."""
    return not state.interrupts and bool(state.next or state.tasks)


@dataclass(frozen=True)
class Plan:
    """What a run does, decided before the graph is invoked.

    ``graph_input`` is what the graph is invoked with: the start input, ``Command(resume=...)``
    with the ``apply`` answers, or ``None`` to continue; `invokes` is False when the checkpoint
    is at rest (only recorded) or ``error`` fails the thread unresumed (a deadline's expiry with
    ``thread: fail``). ``closing`` settles the stale answers, whose interrupt is no longer
    pending, whatever the graph does."""

    graph_input: Any
    apply: tuple[requests.GatheredResponse, ...]
    closing: tuple[tuple[str, str], ...]
    error: dict[str, Any] | None = None

    @property
    def invokes(self) -> bool:
        return self.error is None and self.graph_input is not _NOTHING


def plan(
    run: ClaimedRun,
    state: StateSnapshot | None,
    gathered: Sequence[requests.GatheredResponse],
    pending_ids: set[str],
) -> Plan:
    """Decide the run from the thread's checkpoint (``state``, None when not read), the answers
    it gathered and the interrupts pending in the checkpoint (module docstring, step 2)."""
    if run.kind in ("input", "update"):
        return _plan_turn(run, state, gathered)
    apply = tuple(r for r in gathered if r.interrupt_id in pending_ids)
    stale = [r for r in gathered if r.interrupt_id not in pending_ids]
    # An answer our own earlier attempt applied before crashing is done, not superseded.
    closing = tuple(
        (r.id, _closed(r, "resumed" if r.previous_run_id == run.id else "superseded"))
        for r in stale
    )
    graph_input: Any
    if is_fresh(run) or (state is not None and run.kind == "start" and state.created_at is None):
        graph_input = run.input
    elif apply:
        graph_input = Command(resume={r.interrupt_id: r.response for r in apply})
    elif state is not None and steps_left(state):
        graph_input = None  # a run that died between two steps: continue it
    else:
        graph_input = _NOTHING  # the checkpoint is at rest: only record it
    # A deadline that expired a request with ``thread: fail`` fails the thread, unresumed.
    expired = next((r for r in apply if r.deadline_action == "expire_fail"), None)
    error = None
    if expired is not None:
        reason = (expired.response or {}).get("reason") or "no answer before the deadline"
        error = _error("RequestExpired", f"request {expired.id} expired at its deadline: {reason}")
    return Plan(graph_input, apply, closing, error)


def _plan_turn(
    run: ClaimedRun, state: StateSnapshot | None, gathered: Sequence[requests.GatheredResponse]
) -> Plan:
    """A thread's next turn (new input, a command's update/goto) or a state update: given to
    the graph unless the checkpoint shows that an earlier attempt of this run already did (its
    run id in the checkpoint's metadata). Answers that came meanwhile are to interrupts the new
    turn leaves behind: superseded (the record's sweep would say the same)."""
    closing = tuple((r.id, _closed(r, "superseded")) for r in gathered)
    graph_input: Any
    if state is not None and written_by(state, run):
        # the crash came after LangGraph's commit: continue between two steps, else record
        resumable = run.kind == "input" and steps_left(state)
        graph_input = None if resumable else _NOTHING
    elif run.kind == "update":
        graph_input = run.input  # {values, as_node}: see `Runner._update`
    elif command := run.options.get("command"):
        graph_input = Command(update=command.get("update"), goto=command.get("goto") or ())
    else:
        graph_input = run.input
    return Plan(graph_input, (), closing)


def written_by(state: StateSnapshot, run: ClaimedRun) -> bool:
    """Whether the thread's latest checkpoint was written by an attempt of ``run``."""
    marker = str((state.metadata or {}).get("hitl_run") or "")
    return marker.partition(":")[0] == str(run.id)


@dataclass(frozen=True)
class Outcome:
    """What the run records: its error, the state each gathered answer closes in, the answers
    that are open again, and the answers the graph was given (None: it was given none)."""

    error: dict[str, Any] | None
    closing: tuple[tuple[str, str], ...]
    reopen: tuple[str, ...]
    applied: tuple[requests.GatheredResponse, ...] | None


def settle(decided: Plan, failure: Exception | None = None, trace: str = "") -> Outcome:
    """The outcome of ``decided`` once the graph ran (``failure``: what it raised, with its
    ``trace``). With the statement's own rule (an error cancels instead of superseding and
    queues no next run, see RECORD_RUN), this is how every gathered answer ends."""
    error = decided.error
    apply = decided.apply
    reopen: tuple[str, ...] = ()
    unapplied = error is not None  # the answers were not given to the graph
    if failure is not None:
        timed_out = [r for r in apply if r.deadline_action]
        if is_invalid_resume(failure) and not timed_out:
            # The graph's own validation refused an answer: nothing was saved and the question
            # is open again.
            reopen = tuple(r.id for r in apply)
            apply = ()
        elif is_invalid_resume(failure):
            # It refused what a deadline answered: asking again would only time out again, so
            # the thread fails, saying why.
            unapplied = True
            error = _error(
                "DeadlineAnswerRefused",
                f"the graph refused the value the deadline of request {timed_out[0].id} "
                f"answered with: {failure}",
            )
        else:
            error = _error(type(failure).__name__, str(failure), trace)
    # Applied answers close as resumed (expired, for a deadline's expiry marker); when the
    # thread failed without them, what the deadline answered is expired, the rest cancelled.
    if unapplied:
        ends = tuple((r.id, "expired" if r.deadline_action else "cancelled") for r in apply)
    else:
        ends = tuple((r.id, _closed(r, "resumed")) for r in apply)
    return Outcome(error, decided.closing + ends, reopen, None if unapplied else apply)


class Runner:
    """Executes runs from the Postgres queue with up to ``runner_concurrency`` at once."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        graphs: ServedGraphs,
        registry: GraphRegistry,
        settings: Settings,
        *,
        owner: str | None = None,
    ) -> None:
        self.pool = pool
        self.graphs = graphs
        self.registry = registry
        self.settings = settings
        self.owner = owner or workers.worker_name()
        self.wakeup = asyncio.Event()
        self._active: dict[int, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._saturated = False
        self._finishing: set[int] = set()  # runs whose result is being recorded
        self._started: dict[int, float] = {}  # run id -> when this process claimed it
        self._cancelling: dict[int, str] = {}  # run id -> the cancel action asked for
        self._checks: set[asyncio.Task[None]] = set()
        self._invoking: set[int] = set()  # runs whose graph is running
        self.streams: RunStreams | None = None  # where streamed runs' chunks go
        self.metrics: metrics.Observer = metrics.NO_METRICS
        # Who in this process waits for a thread: they are handed the thread as recorded (see
        # `hitl.service.Service.wait_for_thread`), sparing them a read.
        self.waiters: Waiters = Waiters()
        self._defaults = deadlines.defaults_from(settings)

    def notify(self, _payload: str = "") -> None:
        self.wakeup.set()

    async def run(self) -> None:
        """Claim and execute until `stop`; then finish or release what is held."""
        heartbeat = asyncio.create_task(self._heartbeat(), name="hitl-runner-heartbeat")
        try:
            while not self._stopping.is_set():
                self.wakeup.clear()
                if await self._claim():
                    continue  # all free slots filled: there may be more due
                await wait_event(self.wakeup, self.settings.poll_interval)
        finally:
            await self._drain()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()

    async def _claim(self) -> bool:
        """Claim runs for the free slots; True if every free slot got one."""
        free = self.settings.runner_concurrency - len(self._active)
        if free <= 0:
            self._saturated = True
            return False
        try:
            async with self.pool.connection() as conn:
                claimed = await runs.claim(conn, self.owner, self.settings.run_lease_seconds, free)
        except Exception:
            log.exception("claiming runs failed")
            await asyncio.sleep(self.settings.poll_interval)
            return False
        for run in claimed:
            self.metrics.run_started(run.graph, run.kind, run.attempts)
            self._started[run.id] = time.monotonic()
            task = asyncio.create_task(self._execute_logged(run), name=f"hitl-run-{run.id}")
            self._active[run.id] = task
            task.add_done_callback(functools.partial(self._done, run.id))
        if claimed:
            self.metrics.runs_active(len(self._active))
        self._saturated = len(claimed) == free
        return self._saturated

    def _done(self, run_id: int, _task: asyncio.Task[None]) -> None:
        self._active.pop(run_id, None)
        self._started.pop(run_id, None)
        self.metrics.runs_active(len(self._active))
        if self._saturated:  # runs may be waiting for this slot
            self.wakeup.set()

    async def _drain(self) -> None:
        """Let running runs finish for a grace period, then give the rest back to the queue."""
        if not self._active:
            return
        _, still = await asyncio.wait(list(self._active.values()), timeout=10)
        if still:
            ids = [rid for rid, task in self._active.items() if task in still]
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
            with contextlib.suppress(Exception):
                async with self.pool.connection() as conn:
                    await runs.release(conn, self.owner, ids)

    async def _heartbeat(self) -> None:
        """Renew our leases, and queue again the runs of workers that stopped renewing theirs.

        It goes on after `stop`, until `run` cancels it: runs still finishing in the drain keep
        their leases, else another worker would take them over and run them a second time."""
        interval = self.settings.run_lease_seconds / 3
        while True:
            ids = list(self._active)
            try:
                async with self.pool.connection() as conn:
                    if taken := await runs.reap_expired(conn):
                        self.metrics.leases_taken_over("run", taken)
                        self.wakeup.set()
                    lease = self.settings.run_lease_seconds
                    held = await runs.heartbeat(conn, self.owner, ids, lease) if ids else set()
                    if ids:  # a cancel whose NOTIFY was missed
                        cur = await conn.execute(runs_sql.CANCELS_ASKED, (ids,))
                        self._cancel({row["id"]: row["cancel"] for row in await cur.fetchall()})
            except Exception:
                log.exception("heartbeat failed")
                held = set(ids)
            await asyncio.sleep(interval)
            for lost in set(ids) - held - self._finishing:
                task = self._active.get(lost)
                if task and not task.done():
                    # Another worker took the run over: stop ours so that one thread runs once.
                    log.warning("lost the lease of run %s; cancelling it here", lost)
                    task.cancel()

    async def _execute_logged(self, run: ClaimedRun) -> None:
        # Every line logged during the run (nodes and LangGraph included) names it.
        with logcontext.bind(thread_id=run.thread_id, run_id=run.id, graph=run.graph):
            await self._execute_or_log(run)

    async def _execute_or_log(self, run: ClaimedRun) -> None:
        try:
            await self.execute(run)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Infrastructure trouble (e.g. Postgres went away): the lease lapses and the run is
            # taken over, by us or another worker, from its last checkpoint.
            log.exception("run %s of thread %s could not be recorded", run.id, run.thread_id)

    async def execute(self, run: ClaimedRun) -> None:
        """Read, decide (`plan`), invoke the graph if the plan says so, and record (`settle`)."""
        config = run_config(run)
        if run.attempts > self.settings.run_max_attempts:
            await self._record(
                run,
                None,
                error=_error("RunAbandoned", f"gave up after {run.attempts - 1} attempts"),
            )
            return
        async with contextlib.AsyncExitStack() as stack:
            try:
                # a factory's graph is made for this run, from its config (hitl.registry)
                graph = await stack.enter_async_context(self.graphs.for_run(run.graph, config))
            except Exception as exc:
                log.warning("run %s: graph %r could not be made: %s", run.id, run.graph, exc)
                message = f"the factory of graph {run.graph!r} failed: {type(exc).__name__}: {exc}"
                trace = traceback.format_exc()
                await self._record(run, None, error=_error("GraphFactoryFailed", message, trace))
                return
            if graph is None:
                await self._record(
                    run,
                    None,
                    error=_error("GraphNotFound", f"graph {run.graph!r} is not registered here"),
                )
                return
            await self._execute_with(run, graph, config)

    async def _execute_with(
        self, run: ClaimedRun, graph: Pregel[Any, Any], config: RunnableConfig
    ) -> None:
        fresh = is_fresh(run)
        state, gathered, pending_ids = await self._read(run, graph, config, fresh)
        decided = plan(run, state, gathered, pending_ids)
        rest = _Rest.of(state) if state else None
        failure: Exception | None = None
        trace = ""
        cancelled: str | None = None
        view = self._view(run)
        if decided.invokes:
            spec = self.registry.get(run.graph)
            result: Any = None
            # a thread created with this run has no checkpoint: the graph need not look
            run_config: RunnableConfig = (
                {**config, "configurable": {**config["configurable"], NEW_THREAD: True}}
                if fresh
                else config
            )
            try:
                with self._invoked(run):
                    result = await self._invoke(
                        graph, run, decided, run_config, spec.durability, view
                    )
            except asyncio.CancelledError:
                # `cancel` asked for it: record the run as cancelled; anything else goes on
                if not self._cancelling.get(run.id) or not _uncancel():
                    raise
                cancelled = self._cancelling[run.id]
            except Exception as exc:
                if db.lost_connection(exc):
                    # Postgres went away under the run (a restart): not the graph's failure.
                    # The run is left to lapse and be taken over from its last checkpoint,
                    # as after a crash (bounded by HITL_RUN_MAX_ATTEMPTS).
                    raise
                failure, trace = exc, traceback.format_exc()
                if not is_invalid_resume(exc):
                    log.warning("run %s of thread %s failed: %s", run.id, run.thread_id, exc)
            failpoint("after_checkpoint")
            if cancelled == "rollback":
                await self._roll_back(run)
                result = None
            rest = await self._rest_after(
                graph, config, result if not cancelled else None, breakpoints(run)
            )
        outcome = settle(decided, failure, trace)
        await self._record(
            run,
            rest,
            error=outcome.error,
            closing=outcome.closing,
            reopen=outcome.reopen,
            cancelled=cancelled,
        )
        if cancelled == "rollback":
            async with self.pool.connection() as conn:
                await conn.execute(runs_sql.DELETE_RUN, (run.id,))
        if view is not None:  # after the record: the requests exist before a client sees them
            await view.finish(run, cancelled, outcome.error)
        if outcome.applied is not None:
            self.metrics.answers_applied(run.graph, list(outcome.applied))

    async def _invoke(
        self,
        graph: Pregel[Any, Any],
        run: ClaimedRun,
        decided: Plan,
        config: RunnableConfig,
        durability: Any,
        view: StreamView | None,
    ) -> Any:
        if run.kind == "update":
            await self._update(graph, config, decided.graph_input)
            return None
        options = invoke_options(run, durability)
        with effects.recording(self.pool):  # `hitl.once` records in the service's Postgres
            if view is None:
                return await graph.ainvoke(decided.graph_input, config, **options)
            async for part in graph.astream(
                decided.graph_input,
                config,
                stream_mode=view.modes,
                subgraphs=view.subgraphs,
                **options,
            ):
                view.chunk(part)
        # a stop at a breakpoint the caller set does not show in the output: read from the
        # checkpoint where it stopped
        return None if breakpoints(run) else view.output()

    def _view(self, run: ClaimedRun) -> StreamView | None:
        """The run's stream for its readers, if it was asked to be streamed or someone watches
        its thread (and Redis is there to carry it)."""
        # a watched thread's run is streamed for its page (`progress`, migration 0027)
        asked = run.options.get("stream") or run.options.get("progress")
        if not asked or self.streams is None:
            return None
        return StreamView(self.streams.publisher(str(run.public_id)), asked)

    async def _update(
        self, graph: Pregel[Any, Any], config: RunnableConfig, update: dict[str, Any]
    ) -> None:
        """``update_state`` as the caller asked (at a checkpoint of the thread, if named)."""
        at = config
        if checkpoint_id := update.get("checkpoint_id"):
            configurable = {**config["configurable"], "checkpoint_id": checkpoint_id}
            at = {**config, "configurable": configurable}
        await graph.aupdate_state(at, update.get("values"), as_node=update.get("as_node"))

    async def _roll_back(self, run: ClaimedRun) -> None:
        """Delete the checkpoints ``run`` wrote (a cancel with ``rollback``): the thread is as
        it was before the run."""
        async with self.pool.connection() as conn:
            await conn.execute(
                runs_sql.DELETE_RUN_CHECKPOINTS, {"thread_id": run.thread_id, "run": f"{run.id}:%"}
            )

    def cancel_notified(self, payload: str = "") -> None:
        """A run was asked to be cancelled (NOTIFY ``hitl_run_cancels``): if it runs here,
        look up how and cancel it."""
        with contextlib.suppress(ValueError):
            if int(payload) in self._active:
                task = asyncio.create_task(self._check_cancels([int(payload)]))
                self._checks.add(task)
                task.add_done_callback(self._checks.discard)

    async def _check_cancels(self, ids: list[int]) -> None:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(runs_sql.CANCELS_ASKED, (ids,))
                asked = {row["id"]: row["cancel"] for row in await cur.fetchall()}
        except Exception:
            log.exception("reading cancel requests failed")
            return
        self._cancel(asked)

    def _cancel(self, asked: dict[int, str]) -> None:
        """Cancel the runs asked for that are invoking their graph; the others are cancelled
        when they start to (`_invoking`), or end as they would have."""
        for run_id, action in asked.items():
            task = self._active.get(run_id)
            if task is None or run_id in self._cancelling:
                continue
            log.info("cancelling run %s (%s), as asked", run_id, action)
            self._cancelling[run_id] = action
            if run_id in self._invoking:
                task.cancel()

    @contextlib.contextmanager
    def _invoked(self, run: ClaimedRun) -> Iterator[None]:
        """While the graph runs: the one stretch a cancel interrupts (before it, nothing has
        happened; after it, the result is recorded as it is)."""
        self._invoking.add(run.id)
        try:
            if run.id in self._cancelling and (task := asyncio.current_task()) is not None:
                task.cancel()  # asked before this point: the first await below raises
            yield
        finally:
            self._invoking.discard(run.id)

    async def _read(
        self, run: ClaimedRun, graph: Pregel[Any, Any], config: RunnableConfig, fresh: bool
    ) -> tuple[StateSnapshot | None, list[requests.GatheredResponse], set[str]]:
        """The thread's checkpoint (None when not read), the answers this run applies, and the
        interrupts pending in the checkpoint.

        The checkpoint is read unless it is known to be the one the thread's last run recorded
        (`requests.gather` compares the run and attempt in the latest checkpoint's metadata with
        the last recorded run). Then every answered request is to an interrupt still pending in
        it: that run recorded a request per pending interrupt and swept every open request whose
        interrupt was not pending (answers that came while it ran included); since then only
        pending requests can be answered, and only runs of this thread write its checkpoints.
        Anything else (the thread moved on outside the service, an earlier attempt of this run
        wrote, a run failed) shows as another writer, and the checkpoint is read.
        """
        if fresh:  # a new thread (the service created it with this run): no checkpoint, no answers
            return None, [], set()
        async with self.pool.connection() as conn:
            gathered, unchanged = await requests.gather(conn, run.thread_id, run.id)
        if unchanged and gathered:
            return None, gathered, {r.interrupt_id for r in gathered if r.interrupt_id}
        state = await graph.aget_state(config)
        return state, gathered, {i.id for i in state.interrupts}

    async def _rest_after(
        self,
        graph: Pregel[Any, Any],
        config: RunnableConfig,
        result: Any,
        asked_breakpoints: bool = False,
    ) -> _Rest:
        """Where the run stopped, from what ``ainvoke`` returned (reading the checkpoint only
        when the output does not tell: an error, a stop without interrupts, or breakpoints,
        compiled in or ``asked_breakpoints`` for the run, whose stop at one looks like an end
        in the output)."""
        static = graph.interrupt_before_nodes or graph.interrupt_after_nodes
        if isinstance(result, dict) and not static and not asked_breakpoints:
            values = {k: v for k, v in result.items() if k != _INTERRUPTS}
            if result.get(_INTERRUPTS):
                return _Rest(list(result[_INTERRUPTS]), (), values)  # all pending interrupts
            if _INTERRUPTS not in result:
                return _Rest([], (), values)  # ran to the end
        return _Rest.of(await graph.aget_state(config))

    async def _record(
        self,
        run: ClaimedRun,
        state: _Rest | None,
        *,
        error: dict[str, Any] | None,
        closing: Sequence[tuple[str, str]] = (),
        reopen: Sequence[str] = (),
        cancelled: str | None = None,
    ) -> None:
        interrupts = list(state.interrupts) if state is not None and error is None else []
        # A stop before a node without an interrupt is where an update, a cancel or a
        # breakpoint the caller asked for may leave a thread; otherwise the graph went wrong.
        paused = bool(
            error is None and state is not None and state.next and not interrupts
        ) and bool(cancelled or run.kind == "update" or breakpoints(run))
        if error is None and state is not None and state.next and not interrupts and not paused:
            error = _error(
                "GraphStopped", f"graph stopped before {list(state.next)} without an interrupt"
            )
        self._finishing.add(run.id)
        try:
            await self._write_record(
                run, state, interrupts, error, closing, reopen, cancelled=cancelled, paused=paused
            )
        finally:
            self._finishing.discard(run.id)
            self._cancelling.pop(run.id, None)

    async def _write_record(
        self,
        run: ClaimedRun,
        state: _Rest | None,
        interrupts: list[Interrupt],
        error: dict[str, Any] | None,
        closing: Sequence[tuple[str, str]],
        reopen: Sequence[str],
        *,
        cancelled: str | None = None,
        paused: bool = False,
    ) -> None:
        """One statement (see RECORD_RUN)."""
        new_requests = [self._new_request(run, i) for i in interrupts]
        status = "failed" if error else "interrupted" if interrupts or paused else "completed"
        values = to_json(state.values) if state is not None and state.values is not None else None
        event: dict[str, Any] = {"thread_id": run.thread_id, "graph": run.graph, "run_id": run.id}
        if status == "failed":
            event["error"] = error  # a completed thread's event gets its values in the statement
        params = {
            "run_id": run.id,
            "thread_id": run.thread_id,
            "owner": self.owner,
            "run_status": "cancelled" if cancelled else "failed" if error else "done",
            "error": Jsonb(error) if error else None,
            "graph": run.graph,
            "interrupts": Jsonb(new_requests),
            "closing": Jsonb([{"id": rid, "state": st} for rid, st in closing]),
            "reopen": list(reopen),
            "sweep_state": "cancelled" if error else "superseded",
            "failed": error is not None,
            "live": [i.id for i in interrupts],
            "may_continue": error is None,
            "status": status,
            "values": Jsonb(values) if values is not None else None,
            "event": Jsonb(event),
            "detail": self.waiters.waiting(run.thread_id),
            **_webhook(run, status, cancelled, values, interrupts, error),
        }
        self.waiters.recording.add(run.thread_id)
        try:
            async with self.pool.connection() as conn:
                cur = await runs_sql.RECORD_RUN.execute(conn, params)
                recorded = await cur.fetchone()
        finally:
            self.waiters.recording.discard(run.thread_id)
        if recorded is None:
            log.warning("run %s was taken over by another worker; dropping our result", run.id)
            return
        if recorded["detail"] is not None:
            self.waiters.recorded(run.thread_id, recorded["detail"])
        started = self._started.get(run.id, time.monotonic())
        self.metrics.run_finished(run.graph, status, time.monotonic() - started)
        log.info(
            "run %s of thread %s: %s (%d new requests)",
            run.id,
            run.thread_id,
            recorded["status"],
            recorded["created"],
        )

    def _new_request(self, run: ClaimedRun, interrupt: Interrupt) -> dict[str, Any]:
        """A request for ``interrupt``, with its assignment and deadline terms: the interrupt
        value's own, else the graph's registration, else the settings (`hitl.deadlines`)."""
        value = to_json(interrupt.value)
        defaults = self.registry.get(run.graph).defaults(self._defaults)
        terms, problems = deadlines.for_interrupt(value, defaults)
        for problem in problems:
            log.warning(
                "interrupt %s of thread %s: ignoring %s", interrupt.id, run.thread_id, problem
            )
        schema = to_json(interrupt.response_schema)
        metadata: dict[str, Any] = {}
        unfit = None if schema is None else unusable(schema)
        if unfit is not None:
            # LangGraph never checks answers against a dict schema; one that cannot check
            # anything is recorded aside, and the request is answered as a value without one
            log.warning(
                "interrupt %s of thread %s: its response_schema is not a usable JSON Schema "
                "(%s): answers are not checked against it",
                interrupt.id,
                run.thread_id,
                unfit,
            )
            metadata = {"unusable_response_schema": {"schema": schema, "problem": unfit}}
            schema = None
        return {
            "interrupt_id": interrupt.id,
            "value": value,
            "response_schema": schema,
            "metadata": metadata,
            **terms.as_json(),
        }


# What a caller may pass on to LangGraph in a run's ``config`` (the Agent Server door): the
# checkpoint a run reads and writes is the thread's, never the caller's choice.
_CONFIG_KEYS = ("tags", "recursion_limit", "run_name", "max_concurrency")
_RESERVED_CONFIGURABLE = ("thread_id", "checkpoint_id", "checkpoint_ns", "checkpoint_map")


def run_config(run: ClaimedRun) -> RunnableConfig:
    """The config ``run`` is invoked with: the caller's (`Run.options`) with the thread's id,
    and the run and attempt in the metadata of every checkpoint it writes (see `_read`)."""
    given = run.options.get("config") or {}
    configurable = {
        k: v
        for k, v in (given.get("configurable") or {}).items()
        if k not in _RESERVED_CONFIGURABLE and not k.startswith("__")
    }
    config: dict[str, Any] = {k: given[k] for k in _CONFIG_KEYS if k in given}
    config["configurable"] = {**configurable, "thread_id": run.thread_id}
    config["metadata"] = {
        **(run.options.get("metadata") or {}),
        "hitl_run": f"{run.id}:{run.attempts}",
    }
    return cast(RunnableConfig, config)


def invoke_options(run: ClaimedRun, durability: Any) -> dict[str, Any]:
    """``ainvoke``'s keyword arguments from the run's options (the graph's durability unless the
    caller chose one)."""
    options: dict[str, Any] = {"durability": run.options.get("durability") or durability}
    if (context := run.options.get("context")) is not None:
        options["context"] = context
    for key in ("interrupt_before", "interrupt_after"):
        if run.options.get(key):
            options[key] = run.options[key]
    return options


def breakpoints(run: ClaimedRun) -> bool:
    """Whether the caller asked the run to stop before or after nodes."""
    return bool(run.options.get("interrupt_before") or run.options.get("interrupt_after"))


def _uncancel() -> bool:
    """Take back the cancellation of the current task (True if it was the only one): a run
    cancelled on request goes on to record itself."""
    task = asyncio.current_task()
    return task is not None and task.uncancel() == 0


def _webhook(
    run: ClaimedRun,
    status: str,
    cancelled: str | None,
    values: Any,
    interrupts: list[Interrupt],
    error: dict[str, Any] | None,
) -> dict[str, Any]:
    """RECORD_RUN's parameters for the run's own webhook, if it has one: the run as LangGraph's
    Agent Server posts it (its fields, ``values``, ``error``), with the thread's status and
    pending interrupts, as its webhook is sent at an interrupt too."""
    endpoint = run.options.get("webhook_endpoint_id")
    if endpoint is None:
        return {"webhook_endpoint": None, "webhook_type": None, "webhook_body": None}
    run_status = "interrupted" if cancelled else "error" if error else "success"
    body = {
        "run_id": str(run.public_id),
        "thread_id": run.thread_id,
        "assistant_id": assistant_id(run.graph),
        "status": run_status,
        "thread_status": {"completed": "idle", "failed": "error"}.get(status, status),
        "metadata": run.options.get("metadata") or {},
        "multitask_strategy": run.options.get("multitask_strategy", "enqueue"),
        "created_at": run.created_at.isoformat(),
        "run_started_at": run.started_at.isoformat() if run.started_at else None,
        "values": values,
        "interrupts": [{"id": i.id, "value": to_json(i.value)} for i in interrupts],
    }
    if error is not None:
        body["error"] = {"error": error.get("type"), "message": error.get("message")}
    kind = "interrupted" if interrupts else {"success": "completed"}.get(run_status, run_status)
    return {
        "webhook_endpoint": endpoint,
        "webhook_type": f"run.{'cancelled' if cancelled else kind}",
        "webhook_body": json.dumps(body, default=str),
    }


def _closed(request: requests.GatheredResponse, state: str) -> str:
    """The state an answered request closes in: an expiry marker's request stays expired."""
    return "expired" if (request.deadline_action or "").startswith("expire") else state


def _error(kind: str, message: str, trace: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"type": kind, "message": message}
    if trace:
        found["traceback"] = trace[-4000:]
    return found
