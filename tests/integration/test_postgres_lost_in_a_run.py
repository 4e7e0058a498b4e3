"""Postgres lost under a running graph (a restart, a failover) is not the graph's failure: the
run is taken over from its last checkpoint, as after a crash. Found by the chaos run
(`benchmarks.chaos`): a fast restart of Postgres while a worker wrote a checkpoint failed the
thread with ``AdminShutdown``."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg

from tests.support.api import settle, start


async def test_a_run_whose_postgres_sessions_end_is_retried_not_failed(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    thread_id = await start(
        client, "cut_postgres", {"counter_file": str(counter), "dsn": database_url}
    )
    thread = await settle(client, thread_id, 60)
    assert thread["status"] == "completed", thread.get("error")
    assert thread["values"]["log"] == [["cut"], ["after"]]
    # a second attempt continued from the last checkpoint (the nodes may have run twice: with
    # durability "async" the first attempt can go on before the failed write surfaces)
    assert counter.read_text().split()[-1] == "after"
    with psycopg.connect(database_url) as conn:
        [(attempts,)] = conn.execute(
            "SELECT attempts FROM hitl_runs WHERE thread_id = %s", (thread_id,)
        ).fetchall()
    assert attempts == 2
