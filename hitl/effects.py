"""Side effects done once per step, although LangGraph may run the step again.

LangGraph runs a node at least once: a worker that dies after a node's effect and before the
checkpoint of its step leaves the step to run again when another worker takes the run over
(`hitl.runner`). "The release manager approved the deploy" must still mean one deploy, so a
node wraps its effect:

- `effect_key` is the current step's key: the same every time this step of this thread runs
  (the thread, the task's checkpoint namespace and LangGraph's task id, which LangGraph derives
  from the checkpoint the step starts from), different for the next step, the next turn or a
  later answer. ``effect_key("deploy")`` is the key of one named effect of the step: give it to
  an external API as its idempotency key.
- ``await once("deploy", fn)`` calls ``fn`` (sync or async) the first time and records its JSON
  result in ``hitl_effects`` under ``effect_key("deploy")``; a re-run of the step gets the
  recorded result back without calling ``fn``.
- ``await once_in_transaction("grant", fn)`` calls ``fn(conn)`` in a transaction of the
  service's Postgres that also writes the record: for effects that are statements there.

The guarantee (docs/effects.md):

- ``once_in_transaction``: exactly once. The effect and its record commit together or not at
  all; a re-run finds the record, or finds nothing and does it again.
- ``once``: at most once, never silently twice. An attempt is recorded as started before
  ``fn`` is called; a re-run that finds it started but not finished (the worker died between
  the call and its record) raises `EffectUnfinished`, which fails the thread, naming the key,
  unless the node passed ``retry_unfinished=True``: then ``fn`` is called again, and must give
  the external side the same `effect_key` so that it dedupes.

Both rest on the step's checkpoint: a key is stable only if the checkpoint the step started
from is committed, so the helpers wait for it first (with durability ``async`` LangGraph saves
it while the step runs; with ``exit`` it saves only at the end, and the helpers refuse).

Outside the service (a notebook, a unit test, a plain checkpointer) nothing is recorded:
`effect_key` works the same, `once` and `once_in_transaction` call ``fn`` every time (LangGraph's
at-least-once), ``once_in_transaction`` refusing as it has no connection to give. The runner
binds its pool around the graph's run (`recording`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from langgraph.config import get_config
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl._failpoints import failpoint
from hitl.db.sql import effects as sql
from hitl.errors import HITLError

T = TypeVar("T")

# The namespace of every effect key (uuid5): keys are UUIDs, which external APIs accept.
_NAMESPACE = uuid.UUID("6a1f8f1e-4d0b-5c8e-9a57-0e3f2c1d7b42")
# LangGraph's configurable keys for a task (langgraph._internal._constants, not exported).
_CHECKPOINT_MAP = "checkpoint_map"
_DURABILITY = "__pregel_durability"
_NS_SEP = "|"
# How long to wait for the checkpoint a step started from (durability ``async``), and how often
# to look.
CHECKPOINT_WAIT_SECONDS = 30.0
_CHECKPOINT_POLL_SECONDS = 0.02

_POOL: ContextVar[AsyncConnectionPool[Any] | None] = ContextVar("hitl_effects_pool", default=None)


class NotInAStep(HITLError):
    """`effect_key`, `once` and `once_in_transaction` are called from inside a graph's node."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.__class__.__doc__)


class EffectUnfinished(HITLError):
    """An earlier run of this step started the effect and died before recording its result."""

    def __init__(self, name: str, key: uuid.UUID, attempts: int) -> None:
        super().__init__(
            f"effect {name!r} (key {key}) was started {attempts} time(s) by an earlier run of "
            "this step that died before recording its result: whether it happened is unknown. "
            "Check the external system for that key; pass retry_unfinished=True to once() only "
            "if the call gives the external side this key to dedupe on."
        )
        self.name = name
        self.key = key
        self.attempts = attempts


class StepNotCheckpointed(HITLError):
    """The checkpoint the step started from is not saved, so its key would not survive a
    crash: the graph runs with durability ``exit``, or saving took too long."""


@dataclass(frozen=True)
class Step:
    """The task running now, as LangGraph's config describes it."""

    thread_id: str
    namespace: str  # the task's checkpoint namespace: ``node:task_id`` per graph level
    checkpoint_id: str | None  # the checkpoint the task started from
    durability: str

    @property
    def key(self) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"{self.thread_id}\x00{self.namespace}")

    def effect(self, name: str) -> uuid.UUID:
        return uuid.uuid5(self.key, name)

    @property
    def graph_namespace(self) -> str:
        """The namespace of the graph the task belongs to (its checkpoints are saved there)."""
        return self.namespace.rpartition(_NS_SEP)[0]


def current_step() -> Step:
    """The step of the node that calls this (LangGraph's runnable config of its task)."""
    try:
        config = get_config()
    except RuntimeError:
        raise NotInAStep() from None
    configurable = config.get("configurable") or {}
    thread_id, namespace = configurable.get("thread_id"), configurable.get("checkpoint_ns")
    if not thread_id or not namespace:
        raise NotInAStep("effects need a graph node run with a checkpointer and a thread_id")
    step = Step(str(thread_id), str(namespace), None, configurable.get(_DURABILITY) or "async")
    checkpoints = configurable.get(_CHECKPOINT_MAP) or {}
    return Step(
        step.thread_id, step.namespace, checkpoints.get(step.graph_namespace), step.durability
    )


def effect_key(name: str = "") -> uuid.UUID:
    """The current step's key (``name`` empty), or that of its effect ``name``: the same each
    time this step of this thread runs, different for any other step, turn or answer."""
    step = current_step()
    return step.effect(name) if name else step.key


@contextlib.contextmanager
def recording(pool: AsyncConnectionPool[Any]) -> Iterator[None]:
    """Record effects in ``pool``'s database while the graph runs (the runner's, around
    ``ainvoke``: nodes run in copies of this context)."""
    token = _POOL.set(pool)
    try:
        yield
    finally:
        _POOL.reset(token)


async def once(
    name: str, fn: Callable[[], T | Awaitable[T]], *, retry_unfinished: bool = False
) -> T:
    """``fn()``'s result, calling it only if no earlier run of this step did (module docstring).

    ``fn`` may be sync (run in a thread) or async; its result must be JSON, and comes back as
    JSON gives it (also the first time, so that every run of the step sees the same value)."""
    step = current_step()
    pool = _POOL.get()
    if pool is None:
        return _as_json(await _call(fn))
    key = step.effect(name)
    await _wait_for_checkpoint(pool, step)
    async with pool.connection() as conn:
        started = await _start(conn, step, name, key)
        if not started:
            cur = await conn.execute(sql.READ_EFFECT, (key,))
            row = await cur.fetchone()
            assert row is not None  # rows are only deleted with their thread
            state, result, attempts = _row(row)
            if state == "done":
                return result  # type: ignore[no-any-return]
            if not retry_unfinished:
                raise EffectUnfinished(name, key, attempts)
            await conn.execute(sql.RETRY_EFFECT, (key,))
    result = _as_json(await _call(fn))
    failpoint("effect_before_record")
    async with pool.connection() as conn:
        await conn.execute(sql.FINISH_EFFECT, {"key": key, "result": Jsonb(result)})
    failpoint("effect_before_checkpoint")
    return result


async def once_in_transaction(name: str, fn: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
    """``await fn(conn)``'s result, run in a transaction on ``conn`` that records it, unless an
    earlier run of this step committed one: exactly once for statements on ``conn``."""
    step = current_step()
    pool = _POOL.get()
    if pool is None:
        raise NotInAStep("once_in_transaction runs in the service, which gives it a connection")
    key = step.effect(name)
    await _wait_for_checkpoint(pool, step)
    async with pool.connection() as conn, conn.transaction():
        # A concurrent run of the step waits here for ours to commit, then finds the record.
        if not await _start(conn, step, name, key):
            cur = await conn.execute(sql.READ_EFFECT, (key,))
            row = await cur.fetchone()
            assert row is not None
            return _row(row)[1]  # type: ignore[no-any-return]
        result = _as_json(await fn(conn))
        failpoint("effect_before_record")
        await conn.execute(sql.FINISH_EFFECT, {"key": key, "result": Jsonb(result)})
    failpoint("effect_before_checkpoint")
    return result


async def _start(conn: AsyncConnection[Any], step: Step, name: str, key: uuid.UUID) -> bool:
    params = {"key": key, "thread_id": step.thread_id, "step": step.namespace, "name": name}
    cur = await conn.execute(sql.START_EFFECT, params)
    return await cur.fetchone() is not None


async def _wait_for_checkpoint(pool: AsyncConnectionPool[Any], step: Step) -> None:
    """Return once the checkpoint the step started from is committed: a re-run starts from it
    (or skips the step), so it derives the same key. Durability ``async`` saves it while the
    step runs; ``exit`` saves it only when the run ends."""
    params = {
        "thread_id": step.thread_id,
        "checkpoint_ns": step.graph_namespace,
        "checkpoint_id": step.checkpoint_id,
    }
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CHECKPOINT_WAIT_SECONDS
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(sql.CHECKPOINT_SAVED, params)
            row = await cur.fetchone()
        if row is not None and _first(row):
            return
        if step.durability == "exit" or loop.time() >= deadline:
            raise StepNotCheckpointed(
                f"the checkpoint step {step.namespace!r} started from is not saved "
                f"(durability {step.durability!r}): its effect key would not survive a crash; "
                "use durability 'sync' or 'async' for graphs with recorded effects"
            )
        await asyncio.sleep(_CHECKPOINT_POLL_SECONDS)


async def _call(fn: Callable[[], T | Awaitable[T]]) -> T:
    if inspect.iscoroutinefunction(fn):
        return cast(T, await fn())
    result = await asyncio.to_thread(fn)
    if inspect.isawaitable(result):  # a lambda returning a coroutine
        return await result
    return result


def _as_json(value: T) -> T:
    """``value`` as its record gives it back (a tuple becomes a list, keys become strings)."""
    return cast(T, json.loads(json.dumps(value)))


def _row(row: Any) -> tuple[str, Any, int]:
    """A READ_EFFECT row, whichever row factory the pool uses."""
    if isinstance(row, dict):
        return row["state"], row["result"], row["attempts"]
    return row[0], row[1], row[2]


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
