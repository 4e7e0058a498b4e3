"""Quorum cycles (hitl/quorum.py) against single-answer cycles, per second.

One cycle: start a thread that asks one question and wait for the interrupt, answer it, wait
for the end. A single-answer cycle answers once (the ``terms`` test graph); a quorum-of-2 cycle
sends two votes from two API keys (two people) and the second decides (the ``quorum`` test
graph). Both on one service process, the same concurrency, rounds alternating.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from benchmarks import _setup
from benchmarks.cycle import _drive

GRAPHS = "graphs,tests.support.graphs"
VOTE = {"decision": "approve"}


async def _keys(client: httpx.AsyncClient) -> list[dict[str, str]]:
    """Two API keys that may answer: two voters."""
    found = []
    for name in (f"voter-a-{uuid.uuid4().hex[:6]}", f"voter-b-{uuid.uuid4().hex[:6]}"):
        r = await client.post(
            "/api/v1/apikeys", json={"name": name, "scopes": ["requests:answer", "requests:read"]}
        )
        assert r.status_code == 201, r.text
        found.append({"Authorization": f"Bearer {r.json()['key']}"})
    return found


async def cycles(base_url: str, n: int, concurrency: int, *, quorum: bool) -> float:
    limits = httpx.Limits(max_connections=concurrency * 3)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, limits=limits, headers=_setup.auth_headers(base_url)
    ) as client:
        voters = await _keys(client)

        async def one(_i: int) -> None:
            r = await client.post(
                "/api/v1/threads",
                params={"wait": 60},
                json={"graph": "quorum" if quorum else "terms", "input": {}},
            )
            body: dict[str, Any] = r.raise_for_status().json()
            [interrupt] = body["interrupts"]
            url = f"/api/v1/requests/{interrupt['request_id']}/respond"
            for headers in voters if quorum else voters[:1]:
                (
                    await client.post(url, json={"response": VOTE}, headers=headers)
                ).raise_for_status()
            r = await client.get(
                f"/api/v1/threads/{body['thread_id']}/wait", params={"timeout": 60}
            )
            assert r.raise_for_status().json()["status"] == "completed"

        await _drive(concurrency, concurrency, one)  # warm-up
        return await _drive(n, concurrency, one)


def run(rounds: int, n: int, concurrency: int) -> None:
    rates: dict[str, list[float]] = {"single": [], "quorum": []}
    with _setup.engines() as (base_url, redis_url), _setup.scratch_database(base_url) as url:
        with _setup.service(url, redis_url, HITL_GRAPHS=GRAPHS) as server:
            for i in range(rounds):
                order = ("single", "quorum") if i % 2 == 0 else ("quorum", "single")
                for name in order:
                    rate = asyncio.run(cycles(server.url, n, concurrency, quorum=name == "quorum"))
                    rates[name].append(rate)
    single = sorted(rates["single"])[len(rates["single"]) // 2]
    quorum = sorted(rates["quorum"])[len(rates["quorum"]) // 2]
    print(
        f"\nquorum of 2 vs single answer, cycles/s (median of {rounds}, {n} cycles, "
        f"concurrency {concurrency}):\n"
        f"  single answer   {single:7.1f}\n"
        f"  quorum of 2     {quorum:7.1f}   ratio {quorum / single:5.2f}"
    )
