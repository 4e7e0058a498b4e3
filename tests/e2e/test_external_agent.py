"""The seed's flow with two processes: the service, and an external agent with its own graph
and checkpointer that asks a person, stops, and is resumed by the signed webhook."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from hitl.launcher import ServiceProcess, base_env, free_port
from tests.conftest import ROOT
from tests.support import auth

AGENT_CMD = [sys.executable, str(ROOT / "examples" / "external_agent.py")]
FAST = {
    "HITL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "HITL_WEBHOOK_RETRY_SCHEDULE": "0,0.5,0.5,1,1,2,2,5",
}


@pytest.fixture
def agent_database(engines: tuple[str, str]) -> Iterator[str]:
    name = f"hitl_agent_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(engines[0], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(engines[0], dbname=name)
    with psycopg.connect(engines[0], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_external_agent_is_resumed_by_the_signed_webhook(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    agent_database: str,
    tmp_path: Path,
) -> None:
    server = make_server(**FAST).start()
    server.wait_ready()
    client = http(server.url)
    port = free_port()
    callback = f"http://127.0.0.1:{port}/webhooks"
    # The agent registers its endpoint with its own key: only the owner may name it as a callback.
    key = await auth.make_key(client, "requests:write", "webhooks:admin", name="external-agent")
    r = await client.post(
        "/api/v1/webhooks",
        json={"url": callback, "events": []},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]

    checkpoints = ["--checkpoints", agent_database, "--created", str(tmp_path / "created.db")]
    workflow = ["--workflow-id", "wf-42", *checkpoints]
    started = await asyncio.to_thread(
        subprocess.run,
        [*AGENT_CMD, "start", "--hitl", server.url, "--callback", callback, *workflow],
        env={**base_env(), "HITL_API_KEY": key},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    request_id = json.loads(started.stdout.strip().splitlines()[-1])["request_id"]
    request = (await client.get(f"/api/v1/requests/{request_id}")).json()
    assert request["kind"] == "external" and request["state"] == "pending"
    assert request["workflow_id"] == "wf-42"
    assert request["value"] == {"proposal": "deploy release 1.2 to production"}

    results = tmp_path / "results"
    results.mkdir()
    dedupe = ["--dedupe", str(tmp_path / "dedupe.db"), "--results", str(results)]
    log = open(tmp_path / "agent.log", "wb")  # noqa: ASYNC230
    agent = subprocess.Popen(  # noqa: ASYNC220
        [*AGENT_CMD, "serve", "--port", str(port), "--secret", secret, *checkpoints, *dedupe],
        env=base_env(),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_until(lambda: _up(f"http://127.0.0.1:{port}/healthz"))
        answer = {"decision": "approve", "comment": "go"}
        r = await client.post(f"/api/v1/requests/{request_id}/respond", json={"response": answer})
        assert r.status_code == 200, r.text
        outcome = results / "wf-42.jsonl"
        await wait_until(outcome.exists)
        lines = outcome.read_text().splitlines()
        assert [json.loads(line) for line in lines] == [
            {"proposal": "deploy release 1.2 to production", "decision": answer}
        ]
        shown = (await client.get(f"/api/v1/requests/{request_id}")).json()
        delivery_id = shown["callback_delivery_id"]

        # The same webhook again (same webhook-id): the agent does not resume twice.
        r = await client.post(f"/api/v1/deliveries/{delivery_id}/redeliver")
        assert r.status_code == 202

        def redelivered() -> bool:
            url = f"{server.url}/api/v1/deliveries/{delivery_id}"
            d = httpx.get(url, headers=auth.BEARER).json()
            return d["attempts"] == 2 and d["state"] == "succeeded"

        await wait_until(redelivered)
        d = (await client.get(f"/api/v1/deliveries/{delivery_id}")).json()
        assert [a["status_code"] for a in d["attempt_log"]] == [204, 200]  # handled, duplicate
        assert outcome.read_text().splitlines() == lines
    finally:
        agent.terminate()
        agent.wait(30)
        log.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
