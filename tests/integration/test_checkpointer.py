"""The service's saver writes what LangGraph's own `AsyncPostgresSaver` writes, row for row, so
either reads the other's checkpoints (it only writes them differently: one statement each)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.constants import TASKS
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt
from psycopg_pool import AsyncConnectionPool

from hitl import db
from hitl.checkpointer import NEW_THREAD, PooledPostgresSaver

ERROR, INTERRUPT, RESUME = "__error__", "__interrupt__", "__resume__"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with db.create_pool(database_url, min_size=1, max_size=4) as pool:
        yield pool


async def _put_everything(saver: AsyncPostgresSaver, thread_id: str) -> None:
    """The same calls on either saver: checkpoints with inline, blob and missing values, and
    writes to plain and special channels, some twice."""
    first = empty_checkpoint()
    first["id"] = "1ef00000-0000-6000-8000-000000000001"
    first["ts"] = "2025-01-01T00:00:00+00:00"
    first["channel_values"] = {"n": 1, "text": "x", "flag": True, "nothing": None}
    first["channel_versions"] = {"n": "1", "text": "1", "flag": "1", "nothing": "1"}
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    config = await saver.aput(config, first, {"source": "input", "step": -1}, {"n": "1"})

    second = empty_checkpoint()
    second["id"] = "1ef00000-0000-6000-8000-000000000002"
    second["ts"] = "2025-01-01T00:00:01+00:00"
    second["channel_values"] = {"n": 2, "items": [1, {"a": b"bytes"}], "obj": {"k": "v"}}
    second["channel_versions"] = {"n": "2", "items": "2", "obj": "2", "gone": "2"}
    meta = {"source": "loop", "step": 0, "parents": {}}
    versions = {"n": "2", "items": "2", "obj": "2", "gone": "2"}  # "gone": no value, no blob
    config = await saver.aput(config, second, meta, versions)
    # the same checkpoint again (its metadata changed): replaced, blobs kept
    await saver.aput(config, second, {**meta, "step": 1}, versions)

    await saver.aput_writes(config, [("items", [3]), ("obj", {"k": "w"}), ("items", [4])], "t1")
    await saver.aput_writes(config, [("items", ["again"])], "t1")  # kept as first written
    await saver.aput_writes(config, [(INTERRUPT, "first"), (ERROR, "boom")], "t2", "~path")
    await saver.aput_writes(config, [(INTERRUPT, "second"), (INTERRUPT, "third")], "t2")
    await saver.aput_writes(config, [(RESUME, {"id": "yes"})], "t3")
    await saver.aput_writes(config, [(TASKS, "send")], "t4")


async def _rows(pool: AsyncConnectionPool[Any], thread_id: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    async with pool.connection() as conn:
        for table, order in (
            ("checkpoints", "checkpoint_id"),
            ("checkpoint_blobs", "channel, version"),
            ("checkpoint_writes", "checkpoint_id, task_id, idx"),
        ):
            cur = await conn.execute(
                f"SELECT * FROM {table} WHERE thread_id = %s ORDER BY {order}", (thread_id,)
            )
            found[table] = [{**r, "thread_id": None} for r in await cur.fetchall()]
    return found


async def test_the_saver_writes_the_rows_the_stock_saver_writes(
    pool: AsyncConnectionPool[Any],
) -> None:
    await _put_everything(AsyncPostgresSaver(pool), "stock")  # type: ignore[arg-type]
    await _put_everything(PooledPostgresSaver(pool), "pooled")
    stock, pooled = await _rows(pool, "stock"), await _rows(pool, "pooled")
    assert pooled == stock
    assert len(stock["checkpoints"]) == 2 and len(stock["checkpoint_blobs"]) == 2
    assert len(stock["checkpoint_writes"]) == 7


async def test_each_saver_reads_what_the_other_wrote(pool: AsyncConnectionPool[Any]) -> None:
    stock, pooled = AsyncPostgresSaver(pool), PooledPostgresSaver(pool)  # type: ignore[arg-type]
    await _put_everything(stock, "by-stock")
    await _put_everything(pooled, "by-pooled")
    for thread_id in ("by-stock", "by-pooled"):
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        a, b = await stock.aget_tuple(config), await pooled.aget_tuple(config)
        assert a is not None and b is not None
        assert (a.checkpoint, a.metadata, a.pending_writes) == (
            b.checkpoint,
            b.metadata,
            b.pending_writes,
        )
        assert a.checkpoint["channel_values"] == {
            "n": 2,
            "items": [1, {"a": b"bytes"}],
            "obj": {"k": "v"},
        }
    mine = await pooled.aget_tuple({"configurable": {"thread_id": "by-pooled"}})
    theirs = await stock.aget_tuple({"configurable": {"thread_id": "by-stock"}})
    assert mine is not None and theirs is not None
    assert mine.pending_writes == theirs.pending_writes


async def test_a_graph_interrupts_and_resumes_on_the_saver(pool: AsyncConnectionPool[Any]) -> None:
    def ask(state: dict[str, Any]) -> dict[str, Any]:
        return {"answer": interrupt({"question": "ok?"})}

    builder = StateGraph(dict)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    graph = builder.compile(checkpointer=PooledPostgresSaver(pool))
    config: Any = {"configurable": {"thread_id": "graph"}}
    result = await graph.ainvoke({"question": "ok?"}, config)
    [pending] = result["__interrupt__"]
    assert (await graph.aget_state(config)).interrupts[0].id == pending.id
    result = await graph.ainvoke(Command(resume={pending.id: "yes"}), config)
    assert result["answer"] == "yes"
    # the stock saver reads the finished thread as it was left
    stock = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
    state = await builder.compile(checkpointer=stock).aget_state(config)
    assert state.values["answer"] == "yes" and state.next == ()


async def test_a_thread_said_to_be_new_is_not_read_but_written_as_usual(
    pool: AsyncConnectionPool[Any],
) -> None:
    def step(state: dict[str, Any]) -> dict[str, Any]:
        return {"n": state.get("n", 0) + 1}

    builder = StateGraph(dict)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    saver = PooledPostgresSaver(pool)
    graph = builder.compile(checkpointer=saver)
    config: Any = {"configurable": {"thread_id": "new"}}
    new: Any = {"configurable": {"thread_id": "new", NEW_THREAD: True}}
    assert (await graph.ainvoke({"n": 0}, new))["n"] == 1
    assert (await graph.aget_state(config)).values["n"] == 1  # written as without the flag

    # the flag answers the graph's first read, at the root, with "none"; nothing else
    assert await saver.aget_tuple(new) is None
    assert await saver.aget_tuple(config) is not None
    latest = await saver.aget_tuple(config)
    assert latest is not None
    by_id = {"configurable": {**latest.config["configurable"], NEW_THREAD: True}}
    assert await saver.aget_tuple(by_id) is not None
