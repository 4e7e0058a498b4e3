"""``make bench``: run every benchmark on one database and print the figures and ratios."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform

from benchmarks import _setup, cycle, inbox


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--cycles", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    with _setup.engines() as (base_url, redis_url), _setup.scratch_database(base_url) as url:
        n, c = args.cycles, args.concurrency
        raw = asyncio.run(cycle.raw_langgraph(url, n, c))
        raw_pooled = asyncio.run(cycle.raw_langgraph(url, n, c, pooled=True))
        with _setup.service(url, redis_url) as server:
            single = asyncio.run(cycle.through_service(server.url, n, c))
        with (
            _setup.service(url, redis_url, HITL_RUNNER="false") as server,
            _setup.worker(url, redis_url),
        ):
            split = asyncio.run(cycle.through_service(server.url, n, c))
        print(
            f"\nfull cycles/s at concurrency {c} ({n} cycles each):\n"
            f"  raw LangGraph, stock AsyncPostgresSaver      {raw:7.1f}\n"
            f"  raw LangGraph, pool-aware saver (ours)       {raw_pooled:7.1f}\n"
            f"  service, one process (hitl serve)            {single:7.1f}"
            f"   ratio {single / raw:4.2f} (vs pool-aware {single / raw_pooled:4.2f})\n"
            f"  service, API + 1 worker (2 processes)        {split:7.1f}"
            f"   ratio {split / raw:4.2f} (vs pool-aware {split / raw_pooled:4.2f})\n"
            f"  target: ratio >= 0.8 against raw LangGraph with AsyncPostgresSaver"
        )

        # The inbox, against a service without a runner (nothing else competes for the CPU).
        with _setup.service(url, redis_url, HITL_RUNNER="false") as server:
            pending_small = 1_000
            inbox.seed(url, pending_small, already=0)
            small = inbox.page_latencies(server.url, args.samples)
            inbox.seed(url, args.large, already=pending_small)
            large = inbox.page_latencies(server.url, args.samples)
        print(
            f"\ninbox page (50 pending requests) latency, ms:\n"
            f"  {pending_small:>7,} pending   p50 {small['p50']:6.2f}   p95 {small['p95']:6.2f}\n"
            f"  {args.large:>7,} pending   p50 {large['p50']:6.2f}   p95 {large['p95']:6.2f}\n"
            f"  p95 ratio large / small    {large['p95'] / small['p95']:6.2f}   (target <= 1.5)"
        )


if __name__ == "__main__":
    main()
