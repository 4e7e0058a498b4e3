"""LangGraph's Postgres checkpointer, made for a connection pool.

Given a pool, `PooledPostgresSaver` departs from `AsyncPostgresSaver` in how it writes, never in
what it writes (the same rows in the same tables, so either saver reads what the other wrote;
`tests/integration/test_checkpointer.py` compares them):

- **No process-wide lock.** `AsyncPostgresSaver` takes one ``asyncio.Lock`` around every
  database call, also when it was given a pool, so a process checkpoints one graph step at a
  time whatever the pool size (langgraph issue #7259, fix proposed in PR #7269). With a pool
  each call checks out a connection of its own, so the lock protects nothing.
- **One statement per write, serialised in place.** The stock saver serialises a checkpoint's
  blobs and a task's writes in a worker thread (``asyncio.to_thread``) and sends them through
  a pipeline, one statement per row. Under the GIL the thread hop buys nothing for the values
  of a graph step and costs more than the serialising; here a checkpoint with its blobs, and a
  task's writes, are each one statement (one VALUES row per row), atomic as the pipeline was.

- **No read for a thread known to be new.** A run whose caller just created the thread says
  so in its config (`NEW_THREAD`); the graph's first read of its latest checkpoint is then
  answered "none" without a query. Only that read: the root namespace, no checkpoint id.

- **A checkpoint's blobs read by key.** LangGraph's read joins the checkpoint's channel versions
  with ``checkpoint_blobs``; Postgres often plans that as one scan of every blob the thread ever
  wrote (a version per channel per step), so reading the latest checkpoint of a long thread
  cost in proportion to its history. Here each channel's blob is looked up by its primary key
  (`SELECT_SQL`): the same rows, read in as many probes as the checkpoint has channels.

With a single shared connection it is the stock saver (its reads keyed as above).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

try:  # a snapshot of a DeltaChannel goes to the blobs (langgraph-checkpoint >= 4.1)
    from langgraph.checkpoint.serde.types import _DeltaSnapshot
except ImportError:  # pragma: no cover - older versions have no such values

    class _DeltaSnapshot:  # type: ignore[no-redef]
        pass


# A checkpoint and the blobs of its changed channels (UPSERT_CHECKPOINT_BLOBS_SQL and
# UPSERT_CHECKPOINTS_SQL of langgraph.checkpoint.postgres.base, as one statement).
_PUT_BLOBS = """
WITH blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    VALUES {rows}
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
)
"""
_PUT_CHECKPOINT = """
INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
                         checkpoint, metadata)
VALUES (%(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(parent_checkpoint_id)s,
        %(checkpoint)s, %(metadata)s)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
"""

_PUT_WRITES = """
INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path,
                               idx, channel, type, blob)
VALUES {rows}
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
"""
# A task's writes to the special channels (errors, interrupts, resume values) replace earlier
# ones; other writes are kept as first written (UPSERT_/INSERT_CHECKPOINT_WRITES_SQL).
_UPSERT = "DO UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"
_KEEP = "DO NOTHING"


# The rows go in as scalar parameters, one VALUES row each, rather than as arrays: psycopg
# dumps an array element by element in Python, and a step's handful of rows costs more that
# way than the statement itself. One statement text per row count, each prepared once.
@functools.cache
def put_checkpoint_sql(blobs: int) -> str:
    """The checkpoint with ``blobs`` blob rows, parameters ``c<i>``, ``v<i>``, ``t<i>``,
    ``b<i>`` (channel, version, type, blob) for each."""
    if not blobs:
        return _PUT_CHECKPOINT
    rows = ", ".join(
        f"(%(thread_id)s, %(checkpoint_ns)s, %(c{i})s, %(v{i})s, %(t{i})s, %(b{i})s)"
        for i in range(blobs)
    )
    return _PUT_BLOBS.format(rows=rows) + _PUT_CHECKPOINT


@functools.cache
def put_writes_sql(writes: int, upsert: bool) -> str:
    """A task's ``writes`` rows, parameters ``i<i>``, ``c<i>``, ``t<i>``, ``b<i>`` (index,
    channel, type, blob) for each."""
    rows = ", ".join(
        "(%(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(task_id)s, %(task_path)s, "
        f"%(i{i})s, %(c{i})s, %(t{i})s, %(b{i})s)"
        for i in range(writes)
    )
    return _PUT_WRITES.format(rows=rows) + (_UPSERT if upsert else _KEEP)


# LangGraph's SELECT_SQL (langgraph.checkpoint.postgres.base) with the blobs looked up one
# channel at a time: the LIMIT keeps the lateral subquery from being merged into a join that
# scans all of the thread's blobs (the primary key makes it at most one row anyway).
SELECT_SQL = """
select
    thread_id,
    checkpoint,
    checkpoint_ns,
    checkpoint_id,
    parent_checkpoint_id,
    metadata,
    (
        select array_agg(array[bl.channel::bytea, bl.type::bytea, bl.blob])
        from jsonb_each_text(checkpoint -> 'channel_versions') cv,
        lateral (
            select b.channel, b.type, b.blob from checkpoint_blobs b
            where b.thread_id = checkpoints.thread_id
              and b.checkpoint_ns = checkpoints.checkpoint_ns
              and b.channel = cv.key and b.version = cv.value
            limit 1
        ) bl
    ) as channel_values,
    (
        select
        array_agg(array[cw.task_id::text::bytea, cw.channel::bytea, cw.type::bytea, cw.blob, \
convert_to(cw.task_path, 'UTF8'), cw.idx::text::bytea])
        from checkpoint_writes cw
        where cw.thread_id = checkpoints.thread_id
            and cw.checkpoint_ns = checkpoints.checkpoint_ns
            and cw.checkpoint_id = checkpoints.checkpoint_id
    ) as pending_writes
from checkpoints """


# A ``configurable`` key: true when the thread was created for this run and has no checkpoint
# yet. (LangGraph keeps keys starting with ``__`` out of the checkpoints' metadata.)
NEW_THREAD = "__hitl_new_thread__"


class PooledPostgresSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` whose calls run concurrently on a pool's connections, each write
    one statement."""

    SELECT_SQL = SELECT_SQL

    def __init__(self, conn: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(conn, *args, **kwargs)
        self._pool: AsyncConnectionPool[Any] | None = None
        if isinstance(conn, AsyncConnectionPool) and self.pipe is None:
            self._pool = conn
            self.lock = contextlib.nullcontext()  # type: ignore[assignment]

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        configurable = config.get("configurable") or {}
        if (
            configurable.get(NEW_THREAD)
            and not configurable.get("checkpoint_ns")
            and not configurable.get("checkpoint_id")
        ):
            return None
        return await super().aget_tuple(config)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        if self._pool is None:
            return await super().aput(config, checkpoint, metadata, new_versions)
        configurable = config["configurable"]
        thread_id, checkpoint_ns = configurable["thread_id"], configurable["checkpoint_ns"]
        # Primitive values stay inline in the checkpoint; the others go to the blobs table.
        copy = checkpoint.copy()
        inline = copy["channel_values"] = dict(checkpoint["channel_values"])
        blob_values: dict[str, Any] = {}
        for channel, value in checkpoint["channel_values"].items():
            if isinstance(value, _DeltaSnapshot):
                blob_values[channel] = inline.pop(channel)
                inline[channel] = True
            elif value is not None and not isinstance(value, str | int | float | bool):
                blob_values[channel] = inline.pop(channel)
        versions = {k: v for k, v in new_versions.items() if k in blob_values}
        blobs = self._dump_blobs(thread_id, checkpoint_ns, blob_values, versions)
        params: dict[str, Any] = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": configurable.get("checkpoint_id"),
            "checkpoint": Jsonb(copy),
            "metadata": Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
        }
        for i, (_, _, channel, version, type_, blob) in enumerate(blobs):
            params[f"c{i}"], params[f"v{i}"], params[f"t{i}"], params[f"b{i}"] = (
                channel,
                version,
                type_,
                blob,
            )
        async with self._pool.connection() as conn:
            await conn.execute(put_checkpoint_sql(len(blobs)), params)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        if self._pool is None:
            return await super().aput_writes(config, writes, task_id, task_path)
        configurable = config["configurable"]
        upsert = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        rows = self._dump_writes(
            configurable["thread_id"],
            configurable["checkpoint_ns"],
            configurable["checkpoint_id"],
            task_id,
            task_path,
            writes,
        )
        # One row per index, as the stock saver's row-by-row statements leave it (the last
        # one when replacing, the first when keeping): one statement may not write a row twice.
        by_idx: dict[int, tuple[Any, ...]] = {}
        for row in rows:
            if upsert or row[5] not in by_idx:
                by_idx[row[5]] = row
        if not by_idx:
            return
        params: dict[str, Any] = {
            "thread_id": configurable["thread_id"],
            "checkpoint_ns": configurable["checkpoint_ns"],
            "checkpoint_id": configurable["checkpoint_id"],
            "task_id": task_id,
            "task_path": task_path,
        }
        for i, row in enumerate(by_idx.values()):
            params[f"i{i}"], params[f"c{i}"], params[f"t{i}"], params[f"b{i}"] = row[5:9]
        async with self._pool.connection() as conn:
            await conn.execute(put_writes_sql(len(by_idx), upsert), params)
