"""Events per second through the bus (publish -> subscribe -> ack) against raw Redis commands.

Both sides move the same entries (the bus's envelope) through one stream and one consumer
group on the same Redis, ``batch`` at a time: raw is ``XADD`` x batch (pipelined),
``XREADGROUP COUNT batch`` and one ``XACK`` of the batch; the bus is `Bus.publish_many`,
iterating a `Subscription` and `Received.ack` per event (acks go out as one ``XACK``).
"""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from hitl.bus import Bus


async def _drop(redis: Redis, prefix: str) -> None:
    async for key in redis.scan_iter(match=prefix + "*"):
        await redis.delete(key)


async def raw(redis_url: str, events: int, batch: int) -> float:
    redis = Redis.from_url(redis_url)
    prefix = f"hitl:bench-{uuid.uuid4().hex[:8]}:"
    stream, group = prefix + "events", "bench"
    fields = Bus(redis).event("bench.event", {"n": 0, "payload": "x" * 100}).fields()
    try:
        await redis.xgroup_create(stream, group, "0", mkstream=True)
        started = time.perf_counter()
        for _ in range(events // batch):
            async with redis.pipeline(transaction=False) as pipe:
                for _ in range(batch):
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
                await pipe.execute()
            reply = await redis.xreadgroup(group, "c", {stream: ">"}, batch)
            ids = [entry_id for _, entries in reply for entry_id, _ in entries]
            await redis.xack(stream, group, *ids)
        return events / (time.perf_counter() - started)
    finally:
        await _drop(redis, prefix)
        await redis.aclose()


async def through_bus(redis_url: str, events: int, batch: int) -> float:
    redis = Redis.from_url(redis_url)
    prefix = f"hitl:bench-{uuid.uuid4().hex[:8]}:"
    bus = Bus(redis, prefix=prefix)
    try:
        async with bus.subscribe("bench", ["bench.event"], batch=batch) as subscription:
            started = time.perf_counter()
            for _ in range(events // batch):
                await bus.publish_many(
                    [bus.event("bench.event", {"n": i, "payload": "x" * 100}) for i in range(batch)]
                )
                for _ in range(batch):
                    event = await anext(subscription)
                    await event.ack()
            return events / (time.perf_counter() - started)
    finally:
        await _drop(redis, prefix)
        await redis.aclose()


def report(raw_rates: list[float], bus_rates: list[float], batch: int) -> str:
    import statistics

    r, b = statistics.median(raw_rates), statistics.median(bus_rates)
    return (
        f"\nevents/s, publish -> consume -> ack, batch {batch} (median of {len(raw_rates)}):\n"
        f"  raw XADD + XREADGROUP + XACK       {r:9.0f}\n"
        f"  bus publish / subscribe / ack      {b:9.0f}   ratio {b / r:4.2f}   (target >= 0.7)"
    )


def main(redis_url: str, events: int = 20_000, batch: int = 100, rounds: int = 3) -> None:
    """Run both, interleaved, and print the rates and their ratio."""
    import asyncio

    raw_rates, bus_rates = [], []
    for _ in range(rounds):
        raw_rates.append(asyncio.run(raw(redis_url, events, batch)))
        bus_rates.append(asyncio.run(through_bus(redis_url, events, batch)))
    print(report(raw_rates, bus_rates, batch))


if __name__ == "__main__":
    import os

    main(os.environ.get("HITL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
