"""``make bench``: every benchmark on one database; prints the figures and the ratios.

The cycle benchmarks run in rounds (raw, service, service split, raw, ...) and report each
variant's median, so a slow moment of this shared machine does not land on one variant only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator

from benchmarks import (
    _setup,
    agent_server,
    bus,
    cycle,
    inbox,
    long_threads,
    quorum,
    streams,
    webhooks,
    workers,
)

PARTS = ("cycle", "inbox", "lg", "stream", "webhooks", "workers", "bus", "long", "quorum")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--cycles", type=int, default=300, help="cycles per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per variant")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--samples", type=int, default=300, help="pages timed per size (inbox, thread search)"
    )
    parser.add_argument("--large", type=int, default=100_000, help="pending requests, large")
    parser.add_argument("--webhooks", type=int, default=2000, help="deliveries per measurement")
    parser.add_argument("--answers", type=int, default=1000, help="answers per long thread")
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only this benchmark (repeatable)"
    )
    args = parser.parse_args()
    n, c = args.cycles, args.concurrency
    only = set(args.only or PARTS)

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    if "cycle" in only:
        _cycles(args.rounds, n, c)
    if "inbox" in only:
        _inbox(args.large, args.samples)
    if "lg" in only:
        _agent_server(args.rounds, n, c, args.large, args.samples)
    if "stream" in only:
        _streams(args.rounds, n, c)
    if "webhooks" in only:
        webhooks.run(n=args.webhooks, concurrency=c, rounds=args.rounds, samples=100)
    if "workers" in only:
        workers.main(cycles=n, concurrency=c, rounds=args.rounds)
    if "bus" in only:
        with _setup.engines() as (_, redis_url):
            bus.main(redis_url, rounds=args.rounds)
    if "long" in only:
        long_threads.main(answers=args.answers)
    if "quorum" in only:
        quorum.run(args.rounds, n, c)


def _cycles(rounds: int, n: int, c: int) -> None:
    with _setup.engines() as (base_url, redis_url), _setup.scratch_database(base_url) as url:
        rates: dict[str, list[float]] = defaultdict(list)
        for _ in range(rounds):
            rates["raw"].append(asyncio.run(cycle.raw_langgraph(url, n, c)))
            rates["raw_pooled"].append(asyncio.run(cycle.raw_langgraph(url, n, c, pooled=True)))
            with _setup.service(url, redis_url) as server:
                rates["single"].append(asyncio.run(cycle.through_service(server.url, n, c)))
                rates["single_wait"].append(
                    asyncio.run(cycle.through_service_waiting(server.url, n, c))
                )
            with (
                _setup.service(url, redis_url, HITL_RUNNER="false") as server,
                _setup.worker(url, redis_url),
            ):
                rates["split"].append(asyncio.run(cycle.through_service_waiting(server.url, n, c)))
        m = {k: statistics.median(v) for k, v in rates.items()}
        print(
            f"\nfull cycles/s at concurrency {c} (median of {rounds} x {n} cycles):\n"
            f"  raw LangGraph, stock AsyncPostgresSaver      {m['raw']:7.1f}\n"
            f"  raw LangGraph, pool-aware saver (ours)       {m['raw_pooled']:7.1f}\n"
            f"  service, one process (hitl serve):\n"
            f"    4 calls (start, /wait, respond, /wait)     {m['single']:7.1f}"
            f"   ratio {m['single'] / m['raw']:4.2f}"
            f" (vs pool-aware {m['single'] / m['raw_pooled']:4.2f})\n"
            f"    2 calls (start?wait=, resume?wait=)        {m['single_wait']:7.1f}"
            f"   ratio {m['single_wait'] / m['raw']:4.2f}"
            f" (vs pool-aware {m['single_wait'] / m['raw_pooled']:4.2f})\n"
            f"  service, API + 1 worker, 2 calls             {m['split']:7.1f}"
            f"   ratio {m['split'] / m['raw']:4.2f}"
            f" (vs pool-aware {m['split'] / m['raw_pooled']:4.2f})\n"
            f"  target: ratio >= 0.8 against raw LangGraph with AsyncPostgresSaver"
        )


SMALL = 1_000  # rows in the small database of a small-against-large comparison


@contextlib.contextmanager
def _small_and_large(seed: Callable[[str, int], None], large: int) -> Iterator[tuple[str, str]]:
    """Two scratch databases seeded with `SMALL` and with ``large`` rows, each behind a service
    without a runner: the two services' URLs (the samples alternate between them)."""
    with (
        _setup.engines() as (base_url, redis_url),
        _setup.scratch_database(base_url) as small_url,
        _setup.scratch_database(base_url) as large_url,
        _setup.service(small_url, redis_url, HITL_RUNNER="false") as small_server,
        _setup.service(large_url, redis_url, HITL_RUNNER="false") as large_server,
    ):
        seed(small_url, SMALL)
        seed(large_url, large)
        yield small_server.url, large_server.url


def _inbox(large: int, samples: int) -> None:
    """The inbox with few and with many pending requests."""
    small_n = SMALL
    with _small_and_large(inbox.seed, large) as (small_url, large_url):
        small, big = inbox.page_latencies(small_url, large_url, samples)
        ui_small, ui_big = inbox.page_latencies(small_url, large_url, samples // 3, ui=True)
        # the approvals' sorts and views (docs/approvals.md): the same page, by priority, by
        # deadline, and the due-soon filter (every seeded request is due within 2 days)
        views = {
            name: inbox.page_latencies(small_url, large_url, samples, extra=extra)
            for name, extra in (
                ("sort=priority", {"sort": "priority"}),
                ("sort=deadline", {"sort": "deadline"}),
                ("due_within=2d", {"due_within": "172800", "sort": "deadline"}),
            )
        }
    print(
        f"\ninbox page (50 pending requests) latency over HTTP, ms:\n"
        f"  {small_n:>7,} pending   p50 {small['p50']:6.2f}   p95 {small['p95']:6.2f}\n"
        f"  {large:>7,} pending   p50 {big['p50']:6.2f}   p95 {big['p95']:6.2f}\n"
        f"  p95 ratio large / small    {big['p95'] / small['p95']:6.2f}   (target <= 1.5)\n"
        f"web inbox page (first 50 pending, counts per state), ms:\n"
        f"  {small_n:>7,} pending   p50 {ui_small['p50']:6.2f}   p95 {ui_small['p95']:6.2f}\n"
        f"  {large:>7,} pending   p50 {ui_big['p50']:6.2f}   p95 {ui_big['p95']:6.2f}"
    )
    for name, (v_small, v_large) in views.items():
        print(
            f"inbox {name}: p95 {v_small['p95']:6.2f} ms ({small_n:,}) / "
            f"{v_large['p95']:6.2f} ms ({large:,}), ratio {v_large['p95'] / v_small['p95']:5.2f}"
            " (target <= 1.5)"
        )


def _agent_server(rounds: int, n: int, c: int, large: int, samples: int) -> None:
    """The Agent Server door through LangGraph's client: its cycle against our two-call flow
    and raw LangGraph in interleaved rounds (the two service flows on one service process,
    warmed by both, then timed in alternating order), then its thread search with few and with
    many threads."""
    with _setup.engines() as (base_url, redis_url), _setup.scratch_database(base_url) as url:
        rates: dict[str, list[float]] = defaultdict(list)
        for i in range(rounds):
            rates["raw"].append(asyncio.run(cycle.raw_langgraph(url, n, c)))
            with _setup.service(url, redis_url) as server:
                flows = [
                    ("native", cycle.through_service_waiting),
                    ("sdk", agent_server.through_sdk),
                ]
                # Both flows warm the new process first (its pool's connections prepare their
                # statements after a few uses each): otherwise whichever runs second is faster.
                for _, flow in flows:
                    asyncio.run(flow(server.url, max(n // 3, c), c))
                for name, flow in flows if i % 2 == 0 else flows[::-1]:
                    rates[name].append(asyncio.run(flow(server.url, n, c)))
        m = {k: statistics.median(v) for k, v in rates.items()}
        pairs = [s / o for s, o in zip(rates["sdk"], rates["native"], strict=True)]
        print(
            f"\nAgent Server door (/lg), full cycles/s at concurrency {c} "
            f"(median of {rounds} x {n} cycles):\n"
            f"  raw LangGraph, stock AsyncPostgresSaver      {m['raw']:7.1f}\n"
            f"  ours, 2 calls (start?wait=, resume?wait=)    {m['native']:7.1f}"
            f"   ratio {m['native'] / m['raw']:4.2f}\n"
            f"  langgraph_sdk, 3 calls (threads.create,\n"
            f"    runs.wait input, runs.wait resume)         {m['sdk']:7.1f}"
            f"   ratio {m['sdk'] / m['raw']:4.2f}\n"
            f"  sdk / ours                                   {m['sdk'] / m['native']:7.2f}"
            f"   (target >= 0.9; by round: {', '.join(f'{p:.2f}' for p in pairs)})"
        )
    small_n = SMALL
    with _small_and_large(agent_server.seed, large) as (small_url, large_url):
        small, big = agent_server.search_latencies(small_url, large_url, samples)
    every = agent_server.INTERRUPTED_EVERY
    print(
        f"threads.search(status='interrupted', limit=10) through langgraph_sdk, ms\n"
        f"(1 in {every} threads interrupted, the rest completed):\n"
        f"  {small_n:>7,} threads   p50 {small['p50']:6.2f}   p95 {small['p95']:6.2f}\n"
        f"  {large:>7,} threads   p50 {big['p50']:6.2f}   p95 {big['p95']:6.2f}\n"
        f"  ratio large / small    p50 {big['p50'] / small['p50']:6.2f}"
        f"   p95 {big['p95'] / small['p95']:6.2f}   (target <= 1.5)"
    )


def _streams(rounds: int, n: int, c: int) -> None:
    """Streamed runs through LangGraph's client, the runs in a worker process: a custom event's
    latency from the node's write to the client, then streamed runs against waited ones in
    interleaved rounds on one service (warmed by both first)."""
    modules = streams.MODULES
    with (
        _setup.engines() as (base_url, redis_url),
        _setup.scratch_database(base_url) as url,
        _setup.service(url, redis_url, HITL_RUNNER="false", HITL_GRAPHS=modules) as server,
        _setup.worker(url, redis_url, HITL_GRAPHS=modules),
    ):
        latency = asyncio.run(streams.latencies(server.url, runs=3))
        flows = [("wait", streams.waited), ("stream", streams.streamed)]
        for _, flow in flows:
            asyncio.run(flow(server.url, max(n // 3, c), c))
        rates: dict[str, list[float]] = defaultdict(list)
        for i in range(rounds):
            for name, flow in flows if i % 2 == 0 else flows[::-1]:
                rates[name].append(asyncio.run(flow(server.url, n, c)))
    m = {k: statistics.median(v) for k, v in rates.items()}
    pairs = [s / w for s, w in zip(rates["stream"], rates["wait"], strict=True)]
    events = f"{3 * streams.TICKS_PER_RUN} events, {streams.PAUSE * 1000:.0f} ms apart"
    print(
        f"\nstreamed runs through langgraph_sdk (/lg; API process + 1 worker, chunks over Redis):\n"
        f"  custom event, node's write -> client, ms   p50 {latency['p50']:6.2f}"
        f"   p95 {latency['p95']:6.2f}   ({events})\n"
        f"  runs/s at concurrency {c}, 3 nodes to the end (median of {rounds} x {n}):\n"
        f"    runs.wait                                {m['wait']:7.1f}\n"
        f"    runs.stream(stream_mode='values')        {m['stream']:7.1f}"
        f"   ratio {m['stream'] / m['wait']:4.2f}\n"
        f"    target: ratio >= 0.85 (by round: {', '.join(f'{p:.2f}' for p in pairs)})"
    )


if __name__ == "__main__":
    main()
