"""Full cycles per second with the API in its own process and 1, then 2, ``hitl worker``s.

Same cycle as `benchmarks.cycle.through_service` (``code_review`` on a low-risk diff: start ->
interrupt -> answer -> completed), through an API-only ``hitl serve --workers 0``.

Each measurement also records where the machine's CPU went (a per-process profile from
/proc): the API process, the workers, the load generator (this process), and everything else
(Postgres, Redis). When the machine is already busy with one worker, a second cannot add
throughput: that is what bounds the ratio on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from dataclasses import dataclass, field

import psutil

from benchmarks import _setup, cycle


@dataclass
class Usage:
    """Share of the whole machine's CPU (100% = every core busy) during a measurement."""

    machine: list[float] = field(default_factory=list)
    api: list[float] = field(default_factory=list)
    workers: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)


def _busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def measure(
    database_url: str, redis_url: str, cycles: int, concurrency: int, rounds: int
) -> tuple[dict[int, list[float]], dict[int, Usage]]:
    """Cycles/s per number of workers, ``rounds`` measurements each, interleaved; and where
    the CPU went during each."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    usage = {1: Usage(), 2: Usage()}
    cores = os.cpu_count() or 1
    for _ in range(rounds):
        for workers in (1, 2):
            with (
                _setup.service(database_url, redis_url, HITL_RUNNER="false") as server,
                contextlib.ExitStack() as stack,
            ):
                procs = [
                    stack.enter_context(_setup.worker(database_url, redis_url))
                    for _ in range(workers)
                ]
                assert server.proc is not None
                api, mine, worker_pids = server.proc.pid, os.getpid(), [p.pid for p in procs]
                before = (time.monotonic(), _busy_seconds(), _cpu([api]), _cpu(worker_pids))
                client_before = _cpu([mine])
                rate = asyncio.run(cycle.through_service(server.url, cycles, concurrency))
                wall = time.monotonic() - before[0]
                capacity = wall * cores / 100
                u = usage[workers]
                u.machine.append((_busy_seconds() - before[1]) / capacity)
                u.api.append((_cpu([api]) - before[2]) / capacity)
                u.workers.append((_cpu(worker_pids) - before[3]) / capacity)
                u.client.append((_cpu([mine]) - client_before) / capacity)
                rates[workers].append(rate)
    return rates, usage


def report(rates: dict[int, list[float]], usage: dict[int, Usage], concurrency: int) -> str:
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    lines = [
        f"\nfull cycles/s at concurrency {concurrency}, API process + N workers"
        f" (median of {len(rates[1])}):",
        f"  1 worker     {one:7.1f}",
        f"  2 workers    {two:7.1f}   ratio {two / one:4.2f}   (target >= 1.6)",
        "  where the machine's CPU went (% of all cores; median):",
    ]
    for n in (1, 2):
        u = usage[n]
        m = statistics.median
        other = m(u.machine) - m(u.api) - m(u.workers) - m(u.client)
        lines.append(
            f"    {n} worker{'s' if n > 1 else ' '}  busy {m(u.machine):5.1f}%  ="
            f"  API {m(u.api):4.1f}  workers {m(u.workers):4.1f}"
            f"  load generator {m(u.client):4.1f}  Postgres, Redis, rest {other:4.1f}"
        )
    return "\n".join(lines)


def main(cycles: int = 300, concurrency: int = 16, rounds: int = 3) -> None:
    with _setup.engines() as (base_url, redis_url), _setup.scratch_database(base_url) as url:
        rates, usage = measure(url, redis_url, cycles, concurrency, rounds)
        print(report(rates, usage, concurrency))


if __name__ == "__main__":
    main()
