"""`ask()` against a service process: the caller is a process of its own, killed while it
waits and run again with the same idempotency key; the person is asked once and the second
run returns their answer as the pydantic model. Expiry and withdrawal end `ask()` with their
own exceptions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from hitl.launcher import ServiceProcess, base_env
from hitl.sdk import HITLClient, InvalidInputError, RequestWithdrawn
from tests.conftest import ROOT
from tests.support import auth

ASKER = [sys.executable, "-m", "tests.support.asker"]


async def pending_external(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await admin.get("/api/v1/requests", params={"kind": "external"})
    return [i for i in r.json()["items"] if i["state"] == "pending"]


async def run_asker(url: str, key: str, *args: str) -> dict[str, Any]:
    done = await asyncio.to_thread(
        subprocess.run,
        [*ASKER, url, *args],
        env={**base_env(), "HITL_API_KEY": key},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


async def test_ask_survives_the_callers_restart_with_the_same_idempotency_key(
    ready_server: ServiceProcess, admin: httpx.AsyncClient
) -> None:
    key = await auth.make_key(admin, "requests:write", name="deployer")
    first = subprocess.Popen(  # noqa: ASYNC220
        [*ASKER, ready_server.url, "deploy-v2"],
        env={**base_env(), "HITL_API_KEY": key},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (asked := await pending_external(admin)):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the caller never asked"
            await asyncio.sleep(0.1)
    finally:
        first.kill()  # SIGKILL while it waits for the answer
        first.wait(30)
    [request] = asked
    assert request["title"] == "Deploy v2 to prod?"
    assert request["created_by"] == "key:deployer"
    assert request["response_schema"]["required"] == ["approved"]

    # a person answers while no caller is running; the form's schema is the model's
    bad = await admin.post(
        f"/api/v1/requests/{request['id']}/respond", json={"response": {"comment": "x"}}
    )
    assert bad.status_code == 422
    answer = {"approved": True, "comment": "go"}
    r = await admin.post(f"/api/v1/requests/{request['id']}/respond", json={"response": answer})
    assert r.status_code == 200, r.text

    # the caller runs again (this time with the sync client): the same request, its answer
    assert await run_asker(ready_server.url, key, "deploy-v2", "--sync") == {"answer": answer}
    assert await run_asker(ready_server.url, key, "deploy-v2") == {"answer": answer}
    r = await admin.get("/api/v1/requests", params={"kind": "external"})
    assert [i["id"] for i in r.json()["items"]] == [request["id"]]  # asked once


async def test_ask_ends_with_expiry_and_withdrawal(
    ready_server: ServiceProcess, admin: httpx.AsyncClient
) -> None:
    key = await auth.make_key(admin, "requests:write", name="deployer")

    expired = await run_asker(ready_server.url, key, "deploy-v3", "--timeout", "1")
    assert expired == {"error": "RequestExpired", "state": "expired"}

    class Choice(BaseModel):
        option: str

    async with HITLClient(ready_server.url, api_key=key) as hitl:
        asking = asyncio.create_task(hitl.ask("Pick one", response_model=Choice))
        deadline = time.monotonic() + 60
        while not (asked := await pending_external(admin)):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        withdrawn = await hitl.withdraw(asked[0]["id"])
        assert withdrawn["state"] == "cancelled"
        with pytest.raises(RequestWithdrawn) as ended:
            await asking
        assert ended.value.request_id == asked[0]["id"]

        # a bad term is the service's 422, naming it
        with pytest.raises(InvalidInputError) as refused:
            await hitl.ask("Who?", groups=["nobody-here"])
        assert refused.value.errors[0]["loc"] == ["body", "routing", "groups", 0]
