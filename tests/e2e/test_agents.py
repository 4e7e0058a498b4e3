"""The seed's agent chain as separate processes: the service, CodeReviewAgent, TestAgent and
DeployAgent, talking over the event bus; the test answers people's questions over the API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from graphs.samples import HIGH_RISK_DIFF
from hitl.bus import Bus, Received
from hitl.launcher import ServiceProcess, base_env
from tests.conftest import ROOT
from tests.support import auth
from tests.support.api import GRAPH_MODULES, respond

CHAIN = "examples.agent_chain:"


@pytest.fixture
def prefix(bus_prefix: str) -> str:
    return bus_prefix


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(cls: str, **env: str) -> subprocess.Popen[bytes]:
        with open(tmp_path / f"{cls}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hitl.cli", "agent", CHAIN + cls],
                env={**base_env(), **env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def read_logs(folder: Path) -> str:
    return "\n".join(p.read_text() for p in folder.glob("*.log"))


async def pending_request(client: httpx.AsyncClient, graph: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        r = await client.get("/api/v1/requests", params={"state": "pending", "graph": graph})
        if items := r.json()["items"]:
            return items[0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"no {graph} request came"
        await asyncio.sleep(0.2)


async def test_code_review_tests_and_deploy_agents_chain_to_deploy_completed(
    make_server: Callable[..., ServiceProcess],
    agents: Callable[..., subprocess.Popen[bytes]],
    http: Callable[[str], httpx.AsyncClient],
    redis_url: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    server = make_server(
        HITL_GRAPHS=GRAPH_MODULES + ",graphs.agent_chain", HITL_BUS_PREFIX=prefix
    ).start()
    server.wait_ready()
    client = http(server.url)
    # the agents start threads and read them: a key with just those scopes
    key = await auth.make_key(client, "threads:write", "threads:read", name="agents")
    env = {
        "HITL_REDIS_URL": redis_url,
        "HITL_BUS_PREFIX": prefix,
        "HITL_SERVICE_URL": server.url,
        "HITL_API_KEY": key,
        # the operator's test profiles; an event may only name one
        "HITL_TEST_PROFILES": json.dumps({"diff-present": {"argv": ["test", "-s", "change.diff"]}}),
    }
    procs = [agents(cls, **env) for cls in ("CodeReviewAgent", "TestAgent", "DeployAgent")]

    redis = Redis.from_url(redis_url)
    bus = Bus(redis, prefix=prefix, source="tests")
    change = await bus.publish(
        "code.analysis.needed",
        {"diff": HIGH_RISK_DIFF, "title": "Hard-code a password", "test_profile": "diff-present"},
        subject="change-1",
    )

    review = await pending_request(client, "agent_review")
    assert review["value"]["kind"] == "code_review" and review["value"]["risk_level"] == "high"
    assert (await respond(client, review["id"], {"decision": "approve"})).status_code == 200
    deploy = await pending_request(client, "agent_deploy")
    assert deploy["value"]["kind"] == "deploy_approval"
    assert deploy["value"]["tests"]["passed"] is True
    assert deploy["value"]["tests"]["profile"] == "diff-present"
    answer = {"decision": "approve", "comment": "ship it"}
    assert (await respond(client, deploy["id"], answer)).status_code == 200

    seen: list[Received] = []
    try:
        async with (
            asyncio.timeout(60),
            bus.subscribe("observer", ["code.*", "tests.*", "deploy.*"]) as events,
        ):
            async for event in events:
                seen.append(event)
                await event.ack()
                if event.type == "deploy.completed":
                    break
    finally:
        await redis.aclose()
        logs = read_logs(tmp_path)
    assert [e.type for e in seen] == [
        "code.analysis.needed",
        "code.approved",
        "tests.passed",
        "deploy.completed",
    ], logs
    assert {e.subject for e in seen} == {"change-1"}
    assert seen[0].id == change.id
    assert [e.source for e in seen[1:]] == [
        "hitl/agents/code-review",
        "hitl/agents/tests",
        "hitl/agents/deploy",
    ]
    done = seen[-1].data
    assert done["outcome"] == "deployed" and done["deployment"]["id"].startswith("deploy-")
    assert done["review"]["decision"] == "approve" and "ship it" in done["reason"]

    # SIGTERM: every agent stops cleanly.
    for proc in procs:
        proc.terminate()
    for proc in procs:
        assert await asyncio.to_thread(proc.wait, 30) == 0, logs
