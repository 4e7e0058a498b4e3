"""A step after a person's answer does its side effect once, though its worker is SIGKILLed in
each window: after the effect and before its record, after the record and before the step's
checkpoint, after the checkpoint (`hitl.effects`, graph ``effects`` in tests.support.graphs)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hitl.launcher import ServiceProcess
from tests.support.api import pending, respond, settle, start
from tests.support.workers import Worker


async def answered_then_killed(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    failpoint: str,
    graph_input: dict[str, Any],
) -> tuple[ServiceProcess, httpx.AsyncClient, str]:
    """Start a thread of ``effects``, answer it approve, and let its worker kill itself at
    ``failpoint`` (the answer's run is the first to pass it); then start the server again
    without it."""
    server = make_server()
    # `after_checkpoint` is passed by the start run too: ask without it, answer with it.
    early = {} if failpoint == "after_checkpoint" else {"HITL_FAILPOINTS": failpoint}
    server.start(early)
    server.wait_ready()
    client = http(server.url)
    thread_id = await start(client, "effects", graph_input)
    assert (await settle(client, thread_id))["status"] == "interrupted"
    if not early:
        server.kill()
        server.start({"HITL_FAILPOINTS": failpoint})
        server.wait_ready()
    [request] = await pending(client, thread_id)
    assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    assert await asyncio.to_thread(server.wait_exit, 60) == -9  # killed itself at the failpoint
    server.start()  # without the failpoint
    server.wait_ready()
    return server, client, thread_id


def shipped_rows(database_url: str, thread_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT key, token FROM hitl_test_effects WHERE thread_id = %s", (thread_id,)
        ).fetchall()
    return [(key, token) for key, token in rows]


def shipped_lines(effects_file: Path) -> list[tuple[str, str]]:
    if not effects_file.exists():
        return []
    return [(line.split()[0], line.split()[1]) for line in effects_file.read_text().splitlines()]


def effect_record(database_url: str, thread_id: str) -> tuple[str, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT state, attempts FROM hitl_effects WHERE thread_id = %s AND name = 'ship'",
            (thread_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def ship_result(thread: dict[str, Any]) -> dict[str, Any]:
    [shipped] = [entry[1] for entry in thread["values"]["log"] if entry[0] == "ship"]
    return dict(shipped)


async def test_transactional_effect_killed_before_its_commit_is_done_once(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
) -> None:
    _, client, thread_id = await answered_then_killed(
        make_server, http, "effect_before_record", {"mode": "transaction"}
    )
    thread = await settle(client, thread_id)  # once the dead worker's lease has run out
    assert thread["status"] == "completed", thread
    # the killed attempt's insert rolled back with its record; the re-run did it once
    [(key, token)] = shipped_rows(database_url, thread_id)
    assert ship_result(thread) == {"key": key, "token": token}
    assert effect_record(database_url, thread_id) == ("done", 1)

    # the record goes with its thread
    assert (await client.delete(f"/lg/threads/{thread_id}")).status_code == 204
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM hitl_effects").fetchone() == (0,)


async def test_external_effect_killed_before_its_record_fails_the_thread_clearly(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    effects_file = tmp_path / "shipped"
    _, client, thread_id = await answered_then_killed(
        make_server, http, "effect_before_record", {"effects_file": str(effects_file)}
    )
    thread = await settle(client, thread_id)
    assert thread["status"] == "failed", thread
    [(key, _)] = shipped_lines(effects_file)  # called once, not silently again
    assert thread["error"]["type"] == "EffectUnfinished"
    assert key in thread["error"]["message"]
    assert "retry_unfinished=True" in thread["error"]["message"]
    assert effect_record(database_url, thread_id) == ("started", 1)


async def test_external_effect_opted_in_is_called_again_with_the_same_key(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    effects_file = tmp_path / "shipped"
    _, client, thread_id = await answered_then_killed(
        make_server,
        http,
        "effect_before_record",
        {"effects_file": str(effects_file), "retry": True},
    )
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed", thread
    [(first_key, _), (second_key, token)] = shipped_lines(effects_file)
    assert first_key == second_key  # the external side can dedupe on it
    assert ship_result(thread) == {"key": second_key, "token": token}
    assert effect_record(database_url, thread_id) == ("done", 2)


@pytest.mark.parametrize("failpoint", ["effect_before_checkpoint", "after_checkpoint"])
@pytest.mark.parametrize("mode", ["external", "transaction"])
async def test_effect_recorded_before_the_kill_is_not_done_again(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
    mode: str,
    failpoint: str,
) -> None:
    effects_file = tmp_path / "shipped"
    _, client, thread_id = await answered_then_killed(
        make_server, http, failpoint, {"mode": mode, "effects_file": str(effects_file)}
    )
    thread = await settle(client, thread_id)
    assert thread["status"] == "completed", thread
    if mode == "transaction":
        [(key, token)] = shipped_rows(database_url, thread_id)
    else:
        [(key, token)] = shipped_lines(effects_file)
    # the re-run (effect_before_checkpoint) got the recorded result, not a new call's
    assert ship_result(thread) == {"key": key, "token": token}
    assert effect_record(database_url, thread_id) == ("done", 1)


async def test_workers_killed_at_random_never_ship_twice(
    make_server: Callable[..., ServiceProcess],
    service_env: Callable[[], dict[str, str]],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
    tmp_path: Path,
) -> None:
    """Thirty answered threads whose step after the answer ships once, run by two workers that
    are SIGKILLed and restarted while they work: per thread, one row (in the same transaction
    as its record) or at most one external call (and then the thread completed with it, or
    failed saying the call may have happened), never two."""
    server = make_server(HITL_RUNNER="false").start()
    server.wait_ready()
    client = http(server.url)
    started = [Worker(service_env(), tmp_path / f"worker{i}.log") for i in range(2)]
    for worker in started:
        worker.wait_ready()
    threads: dict[str, dict[str, Any]] = {}
    for i in range(30):
        graph_input: dict[str, Any] = (
            {"mode": "transaction"}
            if i % 2
            else {"mode": "external", "effects_file": str(tmp_path / f"effects{i}")}
        )
        threads[await start(client, "effects", graph_input)] = graph_input
    for thread_id in threads:
        assert (await settle(client, thread_id, timeout=60))["status"] == "interrupted"
    answers = [pending(client, thread_id) for thread_id in threads]
    for [request] in await asyncio.gather(*answers):
        assert (await respond(client, request["id"], {"decision": "approve"})).status_code == 200
    for round_ in range(4):  # kill one worker at a time while the answers are being applied
        await asyncio.sleep(random.uniform(0.05, 0.4))
        victim = started[round_ % 2]
        victim.kill()
        started[round_ % 2] = Worker(service_env(), tmp_path / f"worker{round_}-again.log")
        started[round_ % 2].wait_ready()
    try:
        settled = [await settle(client, thread_id, timeout=120) for thread_id in threads]
    finally:
        for worker in started:
            worker.kill()
    for thread, (thread_id, graph_input) in zip(settled, threads.items(), strict=True):
        if graph_input["mode"] == "transaction":
            assert thread["status"] == "completed", thread
            assert len(shipped_rows(database_url, thread_id)) == 1
        else:
            lines = shipped_lines(Path(graph_input["effects_file"]))
            assert len(lines) <= 1, (thread_id, lines)
            if thread["status"] == "completed":
                assert len(lines) == 1
            else:  # killed between the call and its record: said, not done again
                assert thread["error"]["type"] == "EffectUnfinished", thread
