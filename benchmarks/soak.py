"""``make soak``: the chaos run's system and load at a steady rate for a long time, no faults,
with retention on; does memory level off and latency hold?

Each ``--sample`` seconds (a minute by default) it records the RSS of every process (the API,
each worker, Redis; Postgres as the sum over its processes of their unique memory, since their
RSS counts the shared buffers each time) and the size of the service's biggest tables. At the
end it reports the slope of each process's memory over the last 20 minutes (MB per minute, by
least squares) and the p95 of answer -> resumed-and-recorded (`benchmarks.chaos_graph`) in the
last 5 minutes against the first 5. A run shorter than 30 minutes scales those windows: the
last two thirds of the run, and its first and last sixth.

Retention: threads, requests, runs, events and deliveries are deleted ``--retention`` seconds
after they end (default: a tenth of the run, at least 60 s), pruned every third of that.

``python -m benchmarks.soak --minutes 30 --rate 1``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import time

import psutil
import psycopg

from benchmarks import _engines, chaos, chaos_load, chaos_system

TABLES = (
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "hitl_threads",
    "hitl_runs",
    "hitl_requests",
    "hitl_events",
    "hitl_audit",
    "hitl_webhook_deliveries",
    "hitl_effects",
)


def memory(
    cluster: chaos_system.Cluster, pg: _engines.Postgres, rd: _engines.Redis
) -> dict[str, float]:
    """MB per process: RSS, and for Postgres the sum of its processes' unique memory."""
    found: dict[str, float] = {}
    for name, pid in cluster.pids().items():
        with contextlib.suppress(psutil.Error):
            found[name] = psutil.Process(pid).memory_info().rss / 2**20
    if rd.proc:
        with contextlib.suppress(psutil.Error):
            found["redis"] = psutil.Process(rd.proc.pid).memory_info().rss / 2**20
    total = 0.0
    for pid in pg.pids():
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_full_info().uss
    found["postgres"] = total / 2**20
    return found


def table_sizes(database_url: str) -> dict[str, float]:
    """MB per table (with its indexes and TOAST), and the whole database."""
    with psycopg.connect(database_url) as conn:
        sizes = {
            t: conn.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0] / 2**20  # type: ignore[index]
            for t in TABLES
        }
        sizes["database"] = (
            conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20  # type: ignore[index]
        )
    return sizes


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MB): MB per minute."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.95))] if values else float("nan")


async def collect_latencies(
    database_url: str, seen: dict[str, tuple[float, float]], stop: asyncio.Event
) -> None:
    """Every few seconds, the answers recorded lately (before retention deletes them)."""
    while not stop.is_set():
        with contextlib.suppress(psycopg.Error):
            async with await psycopg.AsyncConnection.connect(database_url) as conn:
                cur = await conn.execute(
                    "SELECT r.id::text, extract(epoch FROM r.responded_at),"
                    " extract(epoch FROM a.at - r.responded_at)"
                    " FROM hitl_requests r JOIN chaos_applied a"
                    " ON a.thread_id = r.thread_id AND a.node = r.value->>'side'"
                    " WHERE r.graph = 'chaos_parallel'"
                    " AND r.responded_at > now() - interval '60 seconds'"
                )
                for rid, at, took in await cur.fetchall():
                    seen[rid] = (float(at), float(took))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)


async def soak(minutes: float, rate: float, sample: float, seed: int) -> str:
    retention = max(60.0, minutes * 6)
    extra = {
        "HITL_RETENTION_THREADS_SECONDS": str(retention),
        "HITL_RETENTION_REQUESTS_SECONDS": str(retention),
        "HITL_RETENTION_RUNS_SECONDS": str(retention),
        "HITL_RETENTION_EVENTS_SECONDS": str(retention),
        "HITL_RETENTION_DELIVERIES_SECONDS": str(retention),
        "HITL_RETENTION_AUDIT_SECONDS": str(retention),
        "HITL_RETENTION_INTERVAL": str(retention / 3),
        "HITL_BUS_RETENTION_SECONDS": str(retention),
        "HITL_CHECKPOINT_HISTORY_KEEP": "5",
    }
    with chaos_system.system(extra) as sys_:
        return await _soak(sys_, minutes, rate, sample, seed, retention)


async def _soak(
    sys_: chaos_system.System,
    minutes: float,
    rate: float,
    sample: float,
    seed: int,
    retention: float,
) -> str:
    cluster, pg, rd, database_url = sys_.cluster, sys_.pg, sys_.rd, sys_.database_url
    rng = random.Random(seed)
    load = chaos_load.Load()
    stop = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    seen_events: set[str] = set()
    answers: dict[str, tuple[float, float]] = {}
    samples: list[tuple[float, dict[str, float], dict[str, float]]] = []
    seconds = minutes * 60
    async with chaos_system.Receiver() as receiver, chaos_system.background() as background:
        people = chaos_load.People(cluster.urls, sys_.keys, load, rng)
        await people.prepare(receiver.url)
        background.append(asyncio.create_task(chaos_system.audit_bus(rd.url, seen_events, stop)))
        background.append(asyncio.create_task(people.watch_inbox(stop, tasks)))
        background.append(asyncio.create_task(collect_latencies(database_url, answers, stop)))
        started = time.time()
        next_sample = started
        i = 0
        starts: list[asyncio.Task[None]] = []
        while (now := time.time()) < started + seconds:
            if now >= next_sample:
                mem = await asyncio.to_thread(memory, cluster, pg, rd)
                sizes = await asyncio.to_thread(table_sizes, database_url)
                samples.append(((now - started) / 60, mem, sizes))
                print(_sample_line(samples[-1]), flush=True)
                next_sample += sample
            due = started + i / rate
            if now >= due:
                starts.append(asyncio.create_task(people.start_thread(i, receiver.url)))
                i += 1
                continue
            await asyncio.sleep(min(due, next_sample) - now)
        mem = await asyncio.to_thread(memory, cluster, pg, rd)
        sizes = await asyncio.to_thread(table_sizes, database_url)
        samples.append(((time.time() - started) / 60, mem, sizes))
        print(_sample_line(samples[-1]), flush=True)
        await asyncio.gather(*starts)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await people.aclose()
    return _report(samples, answers, started, minutes, rate, retention, load)


def _sample_line(s: tuple[float, dict[str, float], dict[str, float]]) -> str:
    minute, mem, sizes = s
    procs = "  ".join(f"{k} {v:5.0f}" for k, v in sorted(mem.items()))
    return f"  min {minute:5.1f}  MB: {procs}   db {sizes['database']:6.1f} MB"


def _report(
    samples: list[tuple[float, dict[str, float], dict[str, float]]],
    answers: dict[str, tuple[float, float]],
    started: float,
    minutes: float,
    rate: float,
    retention: float,
    load: chaos_load.Load,
) -> str:
    tail = 20.0 if minutes >= 30 else minutes * 2 / 3
    edge = 5.0 if minutes >= 30 else max(minutes / 6, 0.5)
    lines = [
        f"soak: {minutes:g} min at {rate:g} threads/s ({len(load.threads)} threads, "
        f"{len(load.externals)} external requests, {len(load.answers)} answers), "
        f"retention {retention:.0f} s",
        "",
        f"memory slope over the last {tail:g} min (MB/min; + grows, - shrinks):",
    ]
    names = sorted({k for _, mem, _ in samples for k in mem})
    for name in names:
        pts = [(m, mem[name]) for m, mem, _ in samples if name in mem and m >= minutes - tail]
        start = next((mem[name] for _, mem, _ in samples if name in mem), 0.0)
        end = samples[-1][1].get(name, float("nan"))
        lines.append(
            f"  {name:9} {slope(pts):+7.2f}   (first sample {start:6.0f} MB, last {end:6.0f} MB)"
        )
    lines.append("")
    lines.append("table sizes, MB (first sample -> last):")
    for table in (*TABLES, "database"):
        lines.append(f"  {table:24} {samples[0][2][table]:8.2f} -> {samples[-1][2][table]:8.2f}")
    lat = sorted(answers.values())
    first = [d for t, d in lat if t - started <= edge * 60]
    last = [d for t, d in lat if t - started >= (minutes - edge) * 60]
    ratio = p95(last) / p95(first) if first and last else float("nan")
    lines += [
        "",
        "answer -> resumed and recorded:",
        f"  first {edge:g} min  {chaos.percentiles(first)}",
        f"  last {edge:g} min   {chaos.percentiles(last)}",
        f"  p95 last / first  {ratio:.2f}   (target <= 1.2)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=1.0, help="threads started per second")
    parser.add_argument("--sample", type=float, default=60, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    report = asyncio.run(soak(args.minutes, args.rate, args.sample, seed))
    print(f"seed {seed}\n{report}")


if __name__ == "__main__":
    main()
