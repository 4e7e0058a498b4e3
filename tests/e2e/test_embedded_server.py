"""``hitl serve`` with nothing configured: embedded Postgres and Redis, a full cycle, a clean stop.

This is what ``make run`` does on a fresh machine, so it runs in every test session, whatever
HITL_TEST_* says.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from hitl.launcher import ServiceProcess, base_env
from tests.conftest import ROOT
from tests.integration.test_embedded import engine_processes, wait_no_engines
from tests.support.api import GRAPH_MODULES, pending, respond, settle, start


def stop_gracefully(server: ServiceProcess) -> None:
    # uvicorn finishes its shutdown, then re-raises SIGTERM so the exit status tells why
    assert server.terminate() in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log()


async def test_embedded_default_full_cycle_and_clean_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**base_env(), "HITL_DATA_DIR": str(data_dir), "HITL_GRAPHS": GRAPH_MODULES}
    server = ServiceProcess(env, tmp_path / "server.log", cwd=ROOT)
    try:
        server.start()
        server.wait_ready()
        assert {p.name() for p in engine_processes(data_dir)} == {"postgres", "redis-server"}
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            ready = (await client.get("/readyz")).json()
            assert ready["checks"] == {"migrations": "ok", "postgres": "ok", "redis": "ok"}
            thread_id = await start(client, "approval", {})
            await settle(client, thread_id)
            [request] = await pending(client, thread_id)
        stop_gracefully(server)
        wait_no_engines(data_dir)

        # The answer comes after a restart on the same data folder: nothing was lost.
        server.start()
        server.wait_ready()
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            assert (
                await respond(client, request["id"], {"decision": "approve"})
            ).status_code == 200
            assert (await settle(client, thread_id))["status"] == "completed"
        stop_gracefully(server)
        wait_no_engines(data_dir)
    finally:
        server.kill()
        for proc in engine_processes(data_dir):
            proc.kill()
