"""Full cycles per second with the API in its own process and 1, then 2, ``hitl worker``s.

Same cycle as `benchmarks.cycle.through_service` (``code_review`` on a low-risk diff: start ->
interrupt -> answer -> completed), through an API-only ``hitl serve --workers 0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics

from benchmarks import _setup, cycle


def measure(
    database_url: str, redis_url: str, cycles: int, concurrency: int, rounds: int
) -> dict[int, list[float]]:
    """Cycles/s per number of workers, ``rounds`` measurements each, interleaved."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for workers in (1, 2):
            with (
                _setup.service(database_url, redis_url, HITL_RUNNER="false") as server,
                contextlib.ExitStack() as stack,
            ):
                for _ in range(workers):
                    stack.enter_context(_setup.worker(database_url, redis_url))
                rate = asyncio.run(cycle.through_service(server.url, cycles, concurrency))
                rates[workers].append(rate)
    return rates


def report(rates: dict[int, list[float]], concurrency: int) -> str:
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    return (
        f"\nfull cycles/s at concurrency {concurrency}, API process + N workers"
        f" (median of {len(rates[1])}):\n"
        f"  1 worker     {one:7.1f}\n"
        f"  2 workers    {two:7.1f}   ratio {two / one:4.2f}   (target >= 1.6)"
    )


def main(cycles: int = 300, concurrency: int = 16, rounds: int = 3) -> None:
    with _setup.engines() as (base_url, redis_url), _setup.scratch_database(base_url) as url:
        print(report(measure(url, redis_url, cycles, concurrency, rounds), concurrency))


if __name__ == "__main__":
    main()
