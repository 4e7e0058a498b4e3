"""``make chaos``: the whole system under load while its processes and engines fail, counted.

Two API replicas (``hitl serve``, no runner; ``--apis``) and two ``hitl worker`` processes on a
Postgres cluster and a Redis server of this run's own (`benchmarks._engines`; never the
machine's shared servers). Threads of ``code_review`` and ``chaos_parallel`` (two interrupts at
once, `benchmarks.chaos_graph`) and external requests with a webhook callback are started
through the API at a steady rate, each call to either replica at random (as a load balancer
would); simulated people answer every request after a random delay (some two people at once,
some left to their deadline's default answer). Meanwhile faults land at random times: SIGKILL
of a worker (restarted), SIGKILL of an API replica (restarted), a Postgres fast restart,
a Redis restart, and the webhook receiver answering 500 and then timing out for a while.

At the end everything is counted, each count must be zero (`Counts`), and a report gives the
faults with their times, the answer -> resumed-and-recorded latency during and outside faults,
and the time each fault took to recover from.

The processes and the harness's receivers are in `benchmarks.chaos_system`, the load and the
simulated people in `benchmarks.chaos_load`; this module injects the faults, counts and reports.
``python -m benchmarks.chaos --threads 500 --seconds 300`` (``make chaos``); the suite runs a
short variant (tests/e2e/test_chaos.py). docs/chaos.md has a run's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from benchmarks import _engines
from benchmarks.chaos_load import Load, People, read_outcomes
from benchmarks.chaos_system import (
    Cluster,
    Receiver,
    SMTPSink,
    System,
    audit_bus,
    background,
    system,
)

# --- the faults -------------------------------------------------------------------------------


FAULT_KINDS = ("worker_kill", "api_kill", "postgres_restart", "redis_restart", "webhook_outage")


@dataclasses.dataclass
class Fault:
    kind: str
    detail: str
    started: float  # time.time()
    injected: float = 0.0  # when the harness finished injecting it (restarted, back up)
    recovered: float | None = None

    @property
    def recovery(self) -> float | None:
        return None if self.recovered is None else self.recovered - self.started


def plan_faults(
    rng: random.Random, seconds: float, kinds: dict[str, int]
) -> list[tuple[float, str]]:
    """Fault times spread at random over the middle of the load, at least a few seconds apart."""
    names = [k for k, n in kinds.items() for _ in range(n)]
    rng.shuffle(names)
    if not names:
        return []
    span = (seconds * 0.1, seconds * 0.8)
    slot = (span[1] - span[0]) / len(names)
    return [(span[0] + slot * i + rng.random() * slot * 0.5, name) for i, name in enumerate(names)]


async def inject(
    kind: str,
    cluster: Cluster,
    pg: _engines.Postgres,
    rd: _engines.Redis,
    receiver: Receiver,
    rng: random.Random,
    outage: float,
    database_url: str,
) -> Fault:
    started = time.time()
    if kind == "worker_kill":
        i, held = await asyncio.to_thread(cluster.busy_worker, database_url, rng)
        started = time.time()
        detail = f"SIGKILL worker{i} (pid {cluster.workers[i].pid}) holding {held} runs, restarted"
        fault = Fault(kind, detail, started)
        await asyncio.to_thread(cluster.kill_worker, i)
    elif kind == "api_kill":
        i = rng.randrange(len(cluster.apis))
        proc = cluster.apis[i].proc
        name = "the API" if len(cluster.apis) == 1 else f"API replica {i}"
        fault = Fault(kind, f"SIGKILL {name} (pid {proc.pid if proc else 0}), restarted", started)
        await asyncio.to_thread(cluster.kill_api, i)
    elif kind == "postgres_restart":
        fault = Fault(kind, "pg_ctl stop -m fast; pg_ctl start", started)
        await asyncio.to_thread(pg.restart)
    elif kind == "redis_restart":
        fault = Fault(kind, "redis SHUTDOWN; redis-server started again", started)
        await asyncio.to_thread(rd.restart)
    elif kind == "webhook_outage":
        third = outage / 3
        detail = f"receiver: 500 for {third:.0f}s, timeouts {third:.0f}s, down {third:.0f}s"
        fault = Fault(kind, detail, started)
        receiver.mode = "500"
        await asyncio.sleep(third)
        receiver.mode = "timeout"
        await asyncio.sleep(third)
        await receiver.stop()  # connections refused
        receiver.mode = "ok"
        await asyncio.sleep(third)
        await receiver.start()
    else:
        raise ValueError(kind)
    fault.injected = time.time()
    return fault


# --- the counts -------------------------------------------------------------------------------


@dataclasses.dataclass
class Counts:
    threads_wrong: int = 0
    answers_lost: int = 0
    answers_applied_twice: int = 0
    requests_stuck: int = 0
    events_missing: int = 0
    webhooks_undelivered: int = 0
    notifications_lost: int = 0
    # reported, not required to be zero
    webhook_duplicates: int = 0
    events_seen: int = 0
    webhooks_delivered: int = 0
    emails_received: int = 0
    email_duplicates: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    ZERO = (
        "threads_wrong",
        "answers_lost",
        "answers_applied_twice",
        "requests_stuck",
        "events_missing",
        "webhooks_undelivered",
        "notifications_lost",
    )

    def nonzero(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.ZERO if getattr(self, k)}


def expected_outcome(responses: list[dict[str, Any]]) -> str:
    for r in responses:
        if r["decision"] in ("reject", "request_changes"):
            return "rejected" if r["decision"] == "reject" else "changes_requested"
    return "deployed"


def count(
    database_url: str,
    load: Load,
    seen_events: set[str],
    receiver: Receiver,
    outcomes: dict[str, str | None],
    smtp: SMTPSink,
) -> Counts:
    c = Counts()
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        requests = conn.execute(
            "SELECT id::text, thread_id, graph, state, value, response, responded_by, kind"
            " FROM hitl_requests ORDER BY created_at"
        ).fetchall()
        threads = {
            r["thread_id"]: r
            for r in conn.execute("SELECT thread_id, graph, status, error FROM hitl_threads")
        }
        applied = conn.execute(
            "SELECT thread_id, node, decision, by, count(*) AS n FROM chaos_applied"
            " GROUP BY 1, 2, 3, 4"
        ).fetchall()
        events = [str(r["id"]) for r in conn.execute("SELECT id FROM hitl_events")]
        notifications = conn.execute(
            "SELECT id::text, request_id::text, event_type, status FROM hitl_notifications"
            " WHERE channel = 'email'"
        ).fetchall()
        deliveries = conn.execute(
            "SELECT id::text, request_id::text, state FROM hitl_webhook_deliveries"
        ).fetchall()
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for r in requests:
        by_thread.setdefault(r["thread_id"], []).append(r)

    # requests: none left pending, none of a thread answered but not resumed
    for r in requests:
        if r["state"] == "pending" or (r["state"] == "responded" and r["kind"] != "external"):
            c.requests_stuck += 1
            c.problems.append(f"request {r['id']} ({r['graph']}) still {r['state']}")
    # answers: each accepted answer is the request's answer
    by_id = {r["id"]: r for r in requests}
    for rid, answer in load.answers.items():
        got = by_id.get(rid)
        if got is None or got["response"] != answer.response or got["responded_by"] != answer.by:
            c.answers_lost += 1
            c.problems.append(f"answer to {rid} not recorded as given: {got and got['response']}")
    # applied twice: more than one row per thread and node
    rows_per: Counter[tuple[str, str]] = Counter()
    applied_by: dict[tuple[str, str], dict[str, Any]] = {}
    for a in applied:
        rows_per[(a["thread_id"], a["node"])] += a["n"]
        applied_by[(a["thread_id"], a["node"])] = a
    for key, n in rows_per.items():
        if n > 1:
            c.answers_applied_twice += n - 1
            c.problems.append(f"{key} applied {n} times")
    # threads: completed, in the state their answers imply
    for thread_id, graph in load.threads.items():
        t = threads.get(thread_id)
        reqs = by_thread.get(thread_id, [])
        ok = t is not None and t["status"] == "completed"
        why = f"status {t and t['status']} {t and t['error']}"
        if ok and graph == "chaos_parallel":
            for r in reqs:
                node = str((r["value"] or {}).get("side"))
                row = applied_by.get((thread_id, node))
                resp = r["response"] or {}
                if row is None or (row["decision"], row["by"]) != (
                    resp.get("decision"),
                    resp.get("by"),
                ):
                    ok, why = False, f"{node}: applied {row}, answered {resp}"
            if len(reqs) != 2:
                ok, why = False, f"{len(reqs)} requests"
        elif ok and graph == "code_review":
            outcome = outcomes.get(thread_id)
            expected = expected_outcome([r["response"] for r in reqs if r["response"]])
            if outcome != expected:
                ok, why = False, f"outcome {outcome}, answers imply {expected}"
        if not ok:
            c.threads_wrong += 1
            c.problems.append(f"thread {thread_id} ({graph}): {why}")
    # events: every outbox event seen by the consumer group
    missing = [e for e in events if e not in seen_events]
    c.events_missing = len(missing)
    c.events_seen = len(seen_events)
    if missing:
        c.problems.append(f"events not seen on the bus: {missing[:20]}")
    # webhooks: every callback delivery's webhook-id received at least once
    for d in deliveries:
        if receiver.received[d["id"]] == 0:
            c.webhooks_undelivered += 1
            c.problems.append(f"delivery {d['id']} ({d['state']}) never received")
        else:
            c.webhooks_delivered += 1
    c.webhook_duplicates = sum(n - 1 for n in receiver.received.values() if n > 1)
    # notifications: every request's creation emailed to carol, every email received
    from hitl.notifications.smtp import message_id

    created = {n["request_id"] for n in notifications if n["event_type"] == "request.created"}
    for r in requests:
        if r["id"] not in created:
            c.notifications_lost += 1
            c.problems.append(f"request {r['id']}: no notification of its creation")
    for note in notifications:
        if smtp.received[message_id(note["id"])] == 0:
            c.notifications_lost += 1
            c.problems.append(f"notification {note['id']} ({note['status']}) never received")
        else:
            c.emails_received += 1
    c.email_duplicates = sum(n - 1 for n in smtp.received.values() if n > 1)
    answered_externals = [
        r for r in requests if r["kind"] == "external" and r["state"] in ("responded", "resumed")
    ]
    with_delivery = {d["request_id"] for d in deliveries}
    for r in answered_externals:
        if r["id"] not in with_delivery:
            c.webhooks_undelivered += 1
            c.problems.append(f"external request {r['id']} answered without a callback")
    return c


# --- latency ----------------------------------------------------------------------------------


def latencies(database_url: str) -> list[tuple[float, float]]:
    """(responded_at, seconds to the answer's row in chaos_applied) for every chaos answer."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM r.responded_at), extract(epoch FROM a.at - r.responded_at)"
            " FROM hitl_requests r JOIN chaos_applied a"
            " ON a.thread_id = r.thread_id AND a.node = r.value->>'side'"
            " WHERE r.graph = 'chaos_parallel' AND r.responded_at IS NOT NULL"
        ).fetchall()
    return [(float(t), float(d)) for t, d in rows]


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a (no answers)"
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return (
        f"p50 {statistics.median(values) * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms"
        f"   max {values[-1] * 1000:7.0f} ms   (n={len(values)})"
    )


def callbacks_created(database_url: str) -> dict[str, float]:
    """Each webhook delivery's id (its ``webhook-id``) and when it was queued."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id::text, extract(epoch FROM created_at) FROM hitl_webhook_deliveries"
        ).fetchall()
    return {i: float(t) for i, t in rows}


def recoveries(
    faults: list[Fault],
    lat: list[tuple[float, float]],
    receiver: Receiver,
    created: dict[str, float],
) -> None:
    """A fault's recovery: from its start until answers given before it that were still in
    flight are recorded, and the first answer given after it was injected is recorded. For the
    webhook receiver's outage: until every callback it refused or that was queued during the
    outage has arrived."""
    for f in faults:
        if f.kind == "webhook_outage":
            ids = receiver.refused_ids | {
                i for i, t in created.items() if f.started <= t <= f.injected
            }
            arrivals = [receiver.first_received.get(i) for i in ids]
            if arrivals and None not in arrivals:
                f.recovered = max(a for a in arrivals if a is not None)
            continue
        backlog = [t + d for t, d in lat if t < f.started < t + d]
        after = [t + d for t, d in lat if t >= f.injected]
        if not after:
            continue
        f.recovered = max([*backlog, min(after)])


# --- the run ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    counts: Counts
    faults: list[Fault]
    during: list[float]
    outside: list[float]
    load: Load
    seconds: float
    report: str


async def drive(
    sys_: System,
    *,
    threads: int,
    seconds: float,
    faults: dict[str, int],
    outage: float,
    seed: int,
    settle_timeout: float = 300,
    on_tick: Callable[[], None] | None = None,
) -> Result:
    cluster, pg, rd, database_url = sys_.cluster, sys_.pg, sys_.rd, sys_.database_url
    rng = random.Random(seed)
    load = Load()
    seen: set[str] = set()
    stop = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    started = time.time()
    async with Receiver() as receiver, background() as jobs:
        people = People(cluster.urls, sys_.keys, load, rng)
        await people.prepare(receiver.url)
        jobs.append(asyncio.create_task(audit_bus(rd.url, seen, stop)))
        jobs.append(asyncio.create_task(people.watch_inbox(stop, tasks)))
        plan = plan_faults(rng, seconds, faults)
        injected: list[Fault] = []

        async def faults_task() -> None:
            for at, kind in plan:
                await asyncio.sleep(max(0.0, started + at - time.time()))
                injected.append(
                    await inject(kind, cluster, pg, rd, receiver, rng, outage, database_url)
                )

        fault_runner = asyncio.create_task(faults_task())
        starts = []
        for i in range(threads):
            await asyncio.sleep(max(0.0, started + i * seconds / threads - time.time()))
            starts.append(asyncio.create_task(people.start_thread(i, receiver.url)))
            if on_tick:
                on_tick()
        await asyncio.gather(*starts)
        await fault_runner
        await _settle(database_url, settle_timeout, seen)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        outcomes = await read_outcomes(people, load)
        await people.aclose()
    elapsed = time.time() - started
    counts = count(database_url, load, seen, receiver, outcomes, sys_.smtp)
    lat = latencies(database_url)
    recoveries(injected, lat, receiver, callbacks_created(database_url))
    # an answer is during a fault when its way to the record overlaps the fault (from its start
    # until it recovered): answered before the fault and recorded after its start counts too
    # (the receiver's outage is not on an answer's way: its callbacks are counted instead)
    windows = [
        (f.started, f.recovered or f.injected) for f in injected if f.kind != "webhook_outage"
    ]
    during = [d for t, d in lat if any(t <= b and t + d >= a for a, b in windows)]
    outside = [d for t, d in lat if not any(t <= b and t + d >= a for a, b in windows)]
    report = render(counts, injected, during, outside, load, started, elapsed, receiver)
    return Result(counts, injected, during, outside, load, elapsed, report)


async def _settle(database_url: str, timeout: float, seen: set[str]) -> None:
    """Until every thread is at rest, no request is open, every delivery and notification has
    ended and every event reached the bus (or ``timeout``: then the counts tell what is left)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with await psycopg.AsyncConnection.connect(database_url) as conn:
                cur = await conn.execute(
                    "SELECT"
                    " (SELECT count(*) FROM hitl_threads WHERE status NOT IN"
                    "   ('completed', 'failed')),"
                    " (SELECT count(*) FROM hitl_requests WHERE state = 'pending'"
                    "   OR (state = 'responded' AND kind <> 'external')),"
                    " (SELECT count(*) FROM hitl_webhook_deliveries WHERE state IN"
                    "   ('pending', 'delivering'))"
                    " + (SELECT count(*) FROM hitl_notifications WHERE status IN"
                    "   ('pending', 'sending')),"
                    " (SELECT array_agg(id::text) FROM hitl_events)"
                )
                row = await cur.fetchone()
        except psycopg.Error:
            await asyncio.sleep(1)
            continue
        assert row is not None
        busy, open_requests, deliveries, events = row
        unseen = [e for e in events or [] if e not in seen]
        if not (busy or open_requests or deliveries or unseen):
            return
        await asyncio.sleep(1)


def render(
    c: Counts,
    faults: list[Fault],
    during: list[float],
    outside: list[float],
    load: Load,
    started: float,
    elapsed: float,
    receiver: Receiver,
) -> str:
    graphs = Counter(load.threads.values())
    lines = [
        f"chaos run: {len(load.threads)} threads ({graphs['code_review']} code_review, "
        f"{graphs['chaos_parallel']} chaos_parallel) and {len(load.externals)} external "
        f"requests, {len(load.answers)} answers accepted "
        f"({load.double_answered} answered by two people at once; both won: "
        f"{load.double_both_won}), {elapsed:.0f} s in all, {load.retries} client retries",
        "",
        "faults (seconds from the start; recovered: the answers in flight and the first answer"
        " after it recorded; for the receiver, every callback it refused or that was queued"
        " meanwhile received):",
    ]
    for f in faults:
        rec = f"{f.recovery:6.1f} s" if f.recovery is not None else "   n/a  "
        lines.append(f"  {f.started - started:6.1f} s  {f.kind:17} recovered in {rec}   {f.detail}")
    lines += ["", "counts (each must be 0):"]
    for name in Counts.ZERO:
        lines.append(f"  {name:24} {getattr(c, name)}")
    lines += [
        "reported:",
        f"  events seen by the consumer group     {c.events_seen}",
        f"  webhooks delivered / duplicates       {c.webhooks_delivered} / {c.webhook_duplicates}"
        f"   (receiver refused or timed out {receiver.refused} attempts)",
        f"  emails received / duplicates          {c.emails_received} / {c.email_duplicates}",
        "",
        "answer -> resumed and recorded (chaos_parallel's row in chaos_applied):",
        f"  outside faults   {percentiles(outside)}",
        f"  during faults    {percentiles(during)}   (killed processes, engine restarts)",
    ]
    if c.problems:
        lines += ["", "problems:", *(f"  {p}" for p in c.problems[:50])]
    return "\n".join(lines)


def run(
    *,
    threads: int,
    seconds: float,
    faults: dict[str, int],
    outage: float,
    seed: int,
    settle_timeout: float = 300,
    apis: int = 2,
) -> Result:
    with system(apis=apis) as sys_:
        return asyncio.run(
            drive(
                sys_,
                threads=threads,
                seconds=seconds,
                faults=faults,
                outage=outage,
                seed=seed,
                settle_timeout=settle_timeout,
            )
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos")
    parser.add_argument("--threads", type=int, default=500, help="threads and external requests")
    parser.add_argument("--seconds", type=float, default=300, help="seconds to start them over")
    parser.add_argument("--worker-kills", type=int, default=3)
    parser.add_argument("--api-kills", type=int, default=2)
    parser.add_argument("--postgres-restarts", type=int, default=1)
    parser.add_argument("--redis-restarts", type=int, default=1)
    parser.add_argument("--webhook-outages", type=int, default=1)
    parser.add_argument("--outage", type=float, default=60, help="seconds the receiver is down")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--apis", type=int, default=2, help="API replicas, behind no balancer")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    faults = {
        "worker_kill": args.worker_kills,
        "api_kill": args.api_kills,
        "postgres_restart": args.postgres_restarts,
        "redis_restart": args.redis_restarts,
        "webhook_outage": args.webhook_outages,
    }
    result = run(
        threads=args.threads,
        seconds=args.seconds,
        faults=faults,
        outage=args.outage,
        seed=seed,
        apis=args.apis,
    )
    print(f"seed {seed}\n{result.report}")
    if result.counts.nonzero():
        sys.exit(f"nonzero counts: {json.dumps(result.counts.nonzero())}")


if __name__ == "__main__":
    main()
