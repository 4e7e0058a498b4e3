"""Webhook delivery: throughput against raw httpx, and latency from an answer to its arrival.

* throughput: ``N`` deliveries queued in Postgres, sent by the delivery worker (claim with a
  lease, sign, POST through the SSRF guard, log the attempt and record the outcome, the
  outcomes that end together in one statement) against ``N`` plain ``httpx`` POSTs of the
  same body, both at the same concurrency to the same receiver (a separate uvicorn process).
* latency: a ``hitl serve`` process, external requests answered one at a time on an idle
  machine; from the answer's ``responded_at`` (its transaction) to the callback's arrival at
  the receiver, p50 / p95.

``python -m benchmarks.webhooks`` runs just this; ``make bench`` runs it with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import psycopg

from benchmarks import _setup
from hitl import db
from hitl.config import Settings
from hitl.db import migrate
from hitl.launcher import free_port
from hitl.webhooks.deliverer import Deliverer
from hitl.webhooks.signing import new_secret

BODY = json.dumps({"type": "request.responded", "data": {"request_id": "x", "response": "ok"}})

QUIET = ["--log-level", "warning", "--no-access-log", "--port"]
JSON = {"content-type": "application/json"}

_arrivals: dict[str, float] = {}


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The receiver: 200 to every POST, remembering when each webhook-id arrived."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = b"{}"
    if scope["method"] == "GET":
        body = json.dumps(_arrivals).encode()
    else:
        headers = dict(scope["headers"])
        if b"webhook-id" in headers:
            _arrivals.setdefault(headers[b"webhook-id"].decode(), time.time())
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.webhooks:receiver_app", *QUIET, str(port)],
        cwd=_setup.ROOT,
    )
    url = f"http://127.0.0.1:{port}/hook"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url, timeout=1)
                break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


async def raw_posts(url: str, n: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=20)
    async with httpx.AsyncClient(limits=limits, timeout=15) as client:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                r = await client.post(
                    url, content=BODY, headers={"content-type": "application/json"}
                )
                r.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


async def deliveries(database_url: str, url: str, n: int, concurrency: int) -> float:
    settings = Settings(
        database_url=database_url,
        redis_url="unused",
        webhook_allow_networks="127.0.0.0/8",
        webhook_concurrency=concurrency,
        poll_interval=0.05,
    )
    async with db.create_pool(database_url, min_size=2, max_size=concurrency + 4) as pool:
        await migrate.migrate(pool)
        async with pool.connection() as conn:
            await conn.execute("TRUNCATE hitl_webhook_endpoints CASCADE")
            cur = await conn.execute(
                "INSERT INTO hitl_webhook_endpoints (url, events, secret) VALUES (%s, '{}', %s)"
                " RETURNING id",
                (url, new_secret()),
            )
            endpoint = (await cur.fetchone())["id"]
            await conn.execute(
                "INSERT INTO hitl_webhook_deliveries (endpoint_id, event_type, body)"
                " SELECT %s, 'bench', %s FROM generate_series(1, %s)",
                (endpoint, BODY, n),
            )
        worker = Deliverer(pool, settings)
        started = time.perf_counter()
        task = asyncio.create_task(worker.run())
        while True:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) AS n FROM hitl_webhook_deliveries WHERE state = 'succeeded'"
                )
                if (await cur.fetchone())["n"] >= n:
                    break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        await worker.stop()
        await task
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM hitl_webhook_attempts")
            assert (await cur.fetchone())["n"] == n
    return n / elapsed


def answer_latencies(database_url: str, redis_url: str, url: str, samples: int) -> list[float]:
    """Seconds from each answer's transaction to its callback's arrival."""
    with (
        _setup.service(
            database_url, redis_url, HITL_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8", HITL_RUNNER="false"
        ) as server,
        httpx.Client(
            base_url=server.url, timeout=30, headers=_setup.auth_headers(server.url)
        ) as client,
    ):
        client.post("/api/v1/webhooks", json={"url": url, "events": []}).raise_for_status()
        # a person answers what the benchmark's key asked (four-eyes refuses the asker's answer)
        person = {"Authorization": f"Bearer {server.create_api_key(f'person-{server.port}')}"}
        found = []
        for i in range(samples):
            request = client.post(
                "/api/v1/requests",
                json={"workflow_id": f"wf-{i}", "callback_webhook": url, "context": {}},
            ).json()
            r = client.post(
                f"/api/v1/requests/{request['id']}/respond", json={"response": i}, headers=person
            )
            r.raise_for_status()
            answered = r.json()
            deadline = time.monotonic() + 60
            delivery = None
            while delivery is None:
                assert time.monotonic() < deadline, f"no callback queued for {request['id']}"
                delivery = client.get(f"/api/v1/requests/{request['id']}").json()[
                    "callback_delivery_id"
                ]
            while True:
                arrivals = httpx.get(url).json()
                if delivery in arrivals:
                    break
                assert time.monotonic() < deadline, f"callback {delivery} never arrived"
                time.sleep(0.002)
            responded = datetime.fromisoformat(answered["responded_at"]).timestamp()
            found.append(arrivals[delivery] - responded)
            time.sleep(0.05)  # idle between answers
    return found


def run(n: int = 2000, concurrency: int = 16, rounds: int = 3, samples: int = 100) -> None:
    with (
        _setup.engines() as (base_url, redis_url),
        _setup.scratch_database(base_url) as url,
        receiver() as hook,
    ):
        raw, ours = [], []
        for _ in range(rounds):
            raw.append(asyncio.run(raw_posts(hook, n, concurrency)))
            ours.append(asyncio.run(deliveries(url, hook, n, concurrency)))
        r, o = statistics.median(raw), statistics.median(ours)
        print(
            f"\nwebhooks/s at concurrency {concurrency} (median of {rounds} x {n}):\n"
            f"  raw httpx POSTs                              {r:7.1f}\n"
            f"  signed, logged deliveries (delivery worker)  {o:7.1f}   ratio {o / r:4.2f}"
            f"   (target >= 0.7)"
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE hitl_webhook_endpoints CASCADE")
        lat = sorted(answer_latencies(url, redis_url, hook, samples))
        p50 = statistics.median(lat) * 1000
        p95 = lat[int(len(lat) * 0.95) - 1] * 1000
        print(f"  answer commit -> webhook arrival, ms         p50 {p50:6.1f}   p95 {p95:6.1f}")


if __name__ == "__main__":
    run()
