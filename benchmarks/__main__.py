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
        with _setup.service(url, redis_url) as server:
            raw = asyncio.run(cycle.raw_langgraph(url, args.cycles, args.concurrency))
            served = asyncio.run(cycle.through_service(server.url, args.cycles, args.concurrency))
        print(
            f"\nfull cycles/s at concurrency {args.concurrency} ({args.cycles} cycles):\n"
            f"  raw LangGraph + AsyncPostgresSaver  {raw:8.1f}\n"
            f"  HITL service over HTTP              {served:8.1f}\n"
            f"  ratio service / raw                 {served / raw:8.2f}   (target >= 0.8)"
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
