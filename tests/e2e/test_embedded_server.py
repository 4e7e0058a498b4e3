"""``hitl serve`` with nothing configured: embedded Postgres and Redis, a full cycle, a clean stop.

This is what ``make run`` does on a fresh machine, so it runs in every test session, whatever
HITL_TEST_* says.
"""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import httpx

from hitl.launcher import ServiceProcess, base_env
from tests.conftest import ROOT
from tests.integration.test_embedded import engine_processes, wait_no_engines
from tests.support import auth
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
        # the first start made an admin and said how to sign in, on the console only
        banner = re.search(r"as 'admin' with password: (\S+)", server.log())
        assert banner, server.log()
        # a key made by the CLI while the service runs, on the same embedded Postgres
        key = await asyncio.to_thread(server.create_api_key, "tests", "*")
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=60, headers=headers) as client:
            assert (await client.get("/api/v1/me")).json()["name"] == "key:tests"
            async with httpx.AsyncClient(base_url=server.url) as anonymous:
                assert (await anonymous.get("/api/v1/threads")).status_code == 401
                csrf = await auth.sign_in(anonymous, "admin", banner.group(1))
                assert csrf
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
        assert "First start" not in server.log().split("Started server process")[-1]
        async with httpx.AsyncClient(base_url=server.url, timeout=60, headers=headers) as client:
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
