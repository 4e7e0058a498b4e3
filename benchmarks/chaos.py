"""``make chaos``: the whole system under load while its processes and engines fail, counted.

An API process (``hitl serve``, no runner) and two ``hitl worker`` processes on a Postgres
cluster and a Redis server of this run's own (`benchmarks._engines`; never the machine's shared
servers). Threads of ``code_review`` and ``chaos_parallel`` (two interrupts at once,
`benchmarks.chaos_graph`) and external requests with a webhook callback are started through the
API at a steady rate; simulated people answer every request after a random delay (some two
people at once, some left to their deadline's default answer). Meanwhile faults land at random
times: SIGKILL of a worker (restarted), SIGKILL of the API (restarted), a Postgres fast restart,
a Redis restart, and the webhook receiver answering 500 and then timing out for a while.

At the end everything is counted, each count must be zero (`Counts`), and a report gives the
faults with their times, the answer -> resumed-and-recorded latency during and outside faults,
and the time each fault took to recover from.

``python -m benchmarks.chaos --threads 500 --seconds 300`` (``make chaos``); the suite runs a
short variant (tests/e2e/test_chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import email
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from psycopg.rows import dict_row
from redis.asyncio import Redis as AsyncRedis

from benchmarks import _engines, chaos_graph
from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from hitl.bus import Bus
from hitl.launcher import ServiceProcess, base_env, free_port

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "hitl:chaos:"
GRAPHS = "graphs,benchmarks.chaos_graph"
DEADLINE_SECONDS = 4.0
GROUP = "chaos-audit"
FAULT_KINDS = ("worker_kill", "api_kill", "postgres_restart", "redis_restart", "webhook_outage")


def service_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of every process of the run: short leases and retries, so a fault is
    recovered from within seconds rather than the production defaults' minutes."""
    return {
        **base_env(),
        "HITL_DATABASE_URL": database_url,
        "HITL_REDIS_URL": redis_url,
        "HITL_BUS_PREFIX": PREFIX,
        "HITL_GRAPHS": GRAPHS,
        "HITL_LOG_LEVEL": "warning",
        "HITL_LOG_FORMAT": "plain",
        "HITL_RUN_LEASE_SECONDS": "5",
        "HITL_POLL_INTERVAL": "0.5",
        "HITL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        "HITL_WEBHOOK_RETRY_SCHEDULE": ",".join(["0", "1", "2", "3"] + ["5"] * 60),
        "HITL_WEBHOOK_TIMEOUT": "2",
        "HITL_WEBHOOK_LEASE_SECONDS": "10",
        "HITL_REQUEST_REMINDERS": "",
        **extra,
    }


# --- the processes --------------------------------------------------------------------------


class Cluster:
    """The API process and the workers; kill and restart them by index."""

    def __init__(self, env: dict[str, str], logs: Path, workers: int = 2) -> None:
        self.env = env
        self.logs = logs
        self.api = ServiceProcess({**env, "HITL_RUNNER": "false"}, logs / "api.log", cwd=ROOT)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.n_workers = workers

    def _worker(self, i: int) -> subprocess.Popen[bytes]:
        with open(self.logs / f"worker{i}.log", "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "hitl.cli", "worker"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self) -> None:
        self.api.start()
        self.api.wait_ready()
        self.workers = [self._worker(i) for i in range(self.n_workers)]

    def owners(self) -> dict[str, int]:
        """Each live worker's lease owner name (its first line) -> its index."""
        found = {}
        for i in range(len(self.workers)):
            names = re.findall(r"HITL worker (\S+)", (self.logs / f"worker{i}.log").read_text())
            if names:
                found[names[-1]] = i
        return found

    def busy_worker(
        self, database_url: str, rng: random.Random, wait: float = 10
    ) -> tuple[int, int]:
        """A worker holding runs right now (polled for up to ``wait`` s, else any), and how
        many it holds: a kill then lands in the middle of runs."""
        deadline = time.monotonic() + wait
        with contextlib.suppress(psycopg.Error), psycopg.connect(database_url) as conn:
            while time.monotonic() < deadline:
                owners = self.owners()
                held = Counter(
                    owner
                    for (owner,) in conn.execute(
                        "SELECT lease_owner FROM hitl_runs WHERE status = 'running'"
                    )
                    if owner in owners
                )
                if held:
                    owner, n = held.most_common(1)[0]
                    return owners[owner], n
                time.sleep(0.01)
        return rng.randrange(len(self.workers)), 0

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker ``i``; a new one takes its place a moment later."""
        self.workers[i].kill()
        self.workers[i].wait(30)
        time.sleep(1)
        self.workers[i] = self._worker(i)

    def kill_api(self) -> None:
        """SIGKILL the API process and start it again on the same port."""
        self.api.kill()
        self.api.start()
        self.api.wait_ready(120)

    def pids(self) -> dict[str, int]:
        found = {f"worker{i}": w.pid for i, w in enumerate(self.workers) if w.poll() is None}
        if self.api.proc and self.api.proc.poll() is None:
            found["api"] = self.api.proc.pid
        return found

    def stop(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                w.terminate()
        for w in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.wait(30)
            if w.poll() is None:
                w.kill()
        if self.api.proc and self.api.proc.poll() is None:
            try:
                self.api.terminate(30)
            except subprocess.TimeoutExpired:
                self.api.kill()

    def tails(self, chars: int = 3000) -> str:
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace")
            parts.append(f"--- {log.name} (last {chars} chars)\n{text[-chars:]}")
        return "\n".join(parts)


# --- the webhook receiver -------------------------------------------------------------------


class Receiver:
    """A webhook receiver in this process: ``mode`` is ``ok`` (200), ``500`` or ``timeout``
    (holds the request longer than the service's webhook timeout). ``received`` counts the
    ``webhook-id`` s answered 200."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.received: Counter[str] = Counter()
        self.first_received: dict[str, float] = {}
        self.refused = 0
        self.refused_ids: set[str] = set()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        mode = self.mode
        if mode == "timeout":
            await asyncio.sleep(5)
        status = 500 if mode != "ok" else 200
        webhook_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
        if status == 200:
            self.received[webhook_id] += 1
            self.first_received.setdefault(webhook_id, time.time())
        else:
            self.refused += 1
            self.refused_ids.add(webhook_id)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def __aenter__(self) -> Receiver:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class SMTPSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) counting the ``Message-ID``
    of every message it takes."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: Counter[str] = Counter()
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        self.received[str(message.get("Message-ID", ""))] += 1
        return "250 OK"

    def __enter__(self) -> SMTPSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


# --- the bus audit --------------------------------------------------------------------------


async def audit_bus(redis_url: str, seen: set[str], stop: asyncio.Event) -> None:
    """Read the whole event stream in a consumer group, acking, through Redis restarts."""
    while not stop.is_set():
        client = AsyncRedis.from_url(redis_url)
        try:
            bus = Bus(client, prefix=PREFIX, claim_idle=3.0)
            async with bus.subscribe(GROUP, consumer="audit", block=0.5, stop=stop) as events:
                async for event in events:
                    seen.add(event.id)
                    await event.ack()
        except Exception:  # Redis restarting: read on from the group's position
            await asyncio.sleep(0.5)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()


# --- the load ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Answer:
    request_id: str
    response: dict[str, Any]
    by: str  # the key's name, as responded_by shows it
    at: float  # when the 200 came (time.time())


@dataclasses.dataclass
class Load:
    """What the load generator did: the threads and external requests it started and every
    answer it saw accepted."""

    threads: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> graph
    externals: dict[str, bool] = dataclasses.field(default_factory=dict)  # request id -> deadline
    answers: dict[str, Answer] = dataclasses.field(default_factory=dict)
    ambiguous: set[str] = dataclasses.field(default_factory=set)  # 409 after our own retry
    double_answered: int = 0
    double_both_won: int = 0
    retries: int = 0
    scheduled: set[str] = dataclasses.field(default_factory=set)


class People:
    """Clients for the simulated people: two API keys, alice and bob."""

    def __init__(self, url: str, keys: dict[str, str], load: Load, rng: random.Random) -> None:
        self.clients = {
            name: httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
            for name, key in keys.items()
        }
        self.load = load
        self.rng = rng

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def call(self, who: str, method: str, path: str, **kw: Any) -> tuple[httpx.Response, int]:
        """The response, retrying transport errors and 5xx (the API or Postgres restarting);
        with how many tries it took."""
        tries = 0
        deadline = time.monotonic() + 300
        while True:
            tries += 1
            try:
                r = await self.clients[who].request(method, path, **kw)
                if r.status_code < 500:
                    return r, tries
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path} failed for 300 s")
            self.load.retries += 1
            await asyncio.sleep(0.3 + self.rng.random() * 0.5)

    async def prepare(self, hook_url: str) -> None:
        """The receiver's endpoint, and carol: an admin with an address, so every request
        (assigned to nobody) is emailed to her."""
        r, _ = await self.call(
            "alice", "POST", "/api/v1/webhooks", json={"url": hook_url, "events": []}
        )
        assert r.status_code == 201, r.text
        body = {"username": "carol", "role": "admin", "email": "carol@example.com"}
        r, _ = await self.call("alice", "POST", "/api/v1/users", json=body)
        assert r.status_code == 201, r.text

    async def start_thread(self, i: int, hook_url: str) -> None:
        roll = self.rng.random()
        if roll < 0.15:
            deadline = self.rng.random() < 0.25
            body: dict[str, Any] = {
                "workflow_id": f"wf-{i}",
                "callback_webhook": hook_url,
                "context": {"question": f"external {i}", "deadline": deadline},
                "response_schema": {
                    "type": "object",
                    "properties": {"decision": {"enum": ["approve", "reject"]}},
                    "required": ["decision"],
                },
            }
            if deadline:
                body["timeout_seconds"] = DEADLINE_SECONDS
                body["on_timeout"] = {"action": "default", "value": {"decision": "approve"}}
            r, _ = await self.call(
                "alice", "POST", "/api/v1/requests", json=body, headers={"Idempotency-Key": f"x{i}"}
            )
            assert r.status_code == 201, r.text
            self.load.externals[r.json()["id"]] = deadline
            return
        thread_id = f"chaos-{i}"
        if roll < 0.55:
            graph = "code_review"
            diff = HIGH_RISK_DIFF if self.rng.random() < 0.5 else LOW_RISK_DIFF
            input_: dict[str, Any] = {"diff": diff, "title": f"change {i}"}
        else:
            graph = "chaos_parallel"
            input_ = {}
            if self.rng.random() < 0.2:
                input_["deadline_seconds"] = DEADLINE_SECONDS
        body = {"graph": graph, "input": input_, "thread_id": thread_id}
        r, tries = await self.call("alice", "POST", "/api/v1/threads", json=body)
        assert r.status_code == 202 or (r.status_code == 409 and tries > 1), r.text
        self.load.threads[thread_id] = graph

    def answer_for(self, request: dict[str, Any], who: str) -> dict[str, Any] | None:
        """What ``who`` answers, or None when the request is left to its deadline."""
        value = request.get("value") or {}
        ok = self.rng.random() < 0.85
        if request.get("kind") == "external":
            if isinstance(value, dict) and value.get("deadline"):
                return None
            return {"decision": "approve" if ok else "reject"}
        if request["graph"] == "chaos_parallel":
            if "timeout_seconds" in value:
                return None
            return {"decision": "approve" if ok else "reject", "by": who}
        if request["graph"] == "code_review":
            if value.get("kind") == "code_review":
                other = self.rng.choice(["reject", "request_changes"])
                return {"decision": "approve" if ok else other, "comment": who}
            return {"decision": "approve" if ok else "reject", "comment": who}
        if request.get("kind") == "external":
            if isinstance(value, dict) and value.get("deadline"):
                return None
            return {"decision": "approve" if ok else "reject"}
        return None

    async def answer(self, request: dict[str, Any]) -> None:
        await asyncio.sleep(0.2 + self.rng.random() * 2.5)
        rid = request["id"]
        path = f"/api/v1/requests/{rid}/respond"
        if self.rng.random() < 0.15:  # two people at once
            bodies = {who: self.answer_for(request, who) for who in ("alice", "bob")}
            if bodies["alice"] is None:
                return
            self.load.double_answered += 1
            results = await asyncio.gather(
                *(self.call(who, "POST", path, json={"response": b}) for who, b in bodies.items())
            )
            won = [
                (who, r)
                for (who, r) in zip(bodies, results, strict=True)
                if r[0].status_code == 200
            ]
            if len(won) > 1:
                self.load.double_both_won += 1
            for who, _ in won:
                self.load.answers[rid] = Answer(rid, bodies[who] or {}, f"key:{who}", time.time())
            if not won and any(tries > 1 for _, tries in results):
                self.load.ambiguous.add(rid)
            return
        who = self.rng.choice(["alice", "bob"])
        body = self.answer_for(request, who)
        if body is None:
            return
        r, tries = await self.call(who, "POST", path, json={"response": body})
        if r.status_code == 200:
            self.load.answers[rid] = Answer(rid, body, f"key:{who}", time.time())
        elif r.status_code == 409 and tries > 1:
            self.load.ambiguous.add(rid)
        else:
            raise AssertionError(f"answer to {rid}: {r.status_code} {r.text}")

    async def watch_inbox(self, stop: asyncio.Event, tasks: set[asyncio.Task[None]]) -> None:
        """Poll the pending requests; schedule an answer for each new one."""
        while not stop.is_set():
            cursor = None
            while True:
                params: dict[str, Any] = {"state": "pending", "limit": 200}
                if cursor:
                    params["cursor"] = cursor
                r, _ = await self.call("alice", "GET", "/api/v1/requests", params=params)
                page = r.json()
                for request in page["items"]:
                    if request["id"] not in self.load.scheduled:
                        self.load.scheduled.add(request["id"])
                        task = asyncio.create_task(self.answer(request))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            await asyncio.sleep(0.3)


# --- the faults -------------------------------------------------------------------------------


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
        pid = cluster.api.proc.pid if cluster.api.proc else 0
        fault = Fault(kind, f"SIGKILL the API (pid {pid}), restarted", started)
        await asyncio.to_thread(cluster.kill_api)
    elif kind == "postgres_restart":
        fault = Fault(kind, "pg_ctl stop -m fast; pg_ctl start", started)
        await asyncio.to_thread(pg.restart)
    elif kind == "redis_restart":
        fault = Fault(kind, "redis SHUTDOWN; redis-server started again", started)
        await asyncio.to_thread(rd.restart)
    elif kind == "webhook_outage":
        fault = Fault(
            kind, f"receiver 500 for {outage / 2:.0f}s, then timeouts {outage / 2:.0f}s", started
        )
        receiver.mode = "500"
        await asyncio.sleep(outage / 2)
        receiver.mode = "timeout"
        await asyncio.sleep(outage / 2)
        receiver.mode = "ok"
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
        r = by_id.get(rid)
        if r is None or r["response"] != answer.response or r["responded_by"] != answer.by:
            c.answers_lost += 1
            c.problems.append(f"answer to {rid} not recorded as given: {r and r['response']}")
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
                node = (r["value"] or {}).get("side")
                a = applied_by.get((thread_id, node))
                resp = r["response"] or {}
                if a is None or a["decision"] != resp.get("decision") or a["by"] != resp.get("by"):
                    ok, why = False, f"{node}: applied {a}, answered {resp}"
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


async def read_outcomes(people: People, load: Load) -> dict[str, str | None]:
    """Each code_review thread's outcome, from its state over the API."""
    outcomes: dict[str, str | None] = {}
    for thread_id, graph in load.threads.items():
        if graph != "code_review":
            continue
        r, _ = await people.call("alice", "GET", f"/api/v1/threads/{thread_id}")
        if r.status_code == 200:
            outcomes[thread_id] = (r.json().get("values") or {}).get("outcome")
    return outcomes


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


def recoveries(faults: list[Fault], lat: list[tuple[float, float]], receiver: Receiver) -> None:
    """A fault's recovery: from its start until answers given before it that were still in
    flight are recorded, and the first answer given after it was injected is recorded. For the
    webhook receiver's outage: until every callback it refused has arrived."""
    for f in faults:
        if f.kind == "webhook_outage":
            arrivals = [receiver.first_received.get(i) for i in receiver.refused_ids]
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


@dataclasses.dataclass
class System:
    """What a run runs on: the processes, the engines, the database, the people's API keys and
    the SMTP server that takes the notification emails."""

    cluster: Cluster
    pg: _engines.Postgres
    rd: _engines.Redis
    database_url: str
    keys: dict[str, str]
    smtp: SMTPSink


@contextlib.contextmanager
def system(extra: dict[str, str] | None = None, workers: int = 2) -> Iterator[System]:
    """Private engines, a database, the API and the workers (``extra``: more settings); API
    keys for alice and bob."""
    with (
        _engines.private_engines() as (pg, rd),
        tempfile.TemporaryDirectory() as logs,
        SMTPSink() as smtp,
    ):
        database_url = _engines.create_database(pg.url, "chaos")
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(chaos_graph.TABLE_SQL)
        mail = {
            "HITL_SMTP_HOST": "127.0.0.1",
            "HITL_SMTP_PORT": str(smtp.port),
            "HITL_SMTP_TLS": "none",
        }
        # the engines keep their ports across restarts: one URL each for the whole run
        cluster = Cluster(
            service_env(database_url, rd.url, **mail, **(extra or {})), Path(logs), workers
        )
        try:
            cluster.start()
            keys = {who: cluster.api.create_api_key(who) for who in ("alice", "bob")}
            yield System(cluster, pg, rd, database_url, keys, smtp)
        except BaseException:
            print(cluster.tails(), file=sys.stderr)
            raise
        finally:
            cluster.stop()


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
    async with Receiver() as receiver, _background() as background:
        people = People(cluster.api.url, sys_.keys, load, rng)
        await people.prepare(receiver.url)
        background.append(asyncio.create_task(audit_bus(rd.url, seen, stop)))
        background.append(asyncio.create_task(people.watch_inbox(stop, tasks)))
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
    recoveries(injected, lat, receiver)
    windows = [(f.started, f.recovered or f.injected) for f in injected]
    during = [d for t, d in lat if any(a <= t <= b for a, b in windows)]
    outside = [d for t, d in lat if not any(a <= t <= b for a, b in windows)]
    report = render(counts, injected, during, outside, load, started, elapsed, receiver)
    return Result(counts, injected, during, outside, load, elapsed, report)


@contextlib.asynccontextmanager
async def _background() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
        " after it recorded; for the receiver, every callback it refused received):",
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
        f"  during faults    {percentiles(during)}",
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
) -> Result:
    with system() as sys_:
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
        threads=args.threads, seconds=args.seconds, faults=faults, outage=args.outage, seed=seed
    )
    print(f"seed {seed}\n{result.report}")
    if result.counts.nonzero():
        sys.exit(f"nonzero counts: {json.dumps(result.counts.nonzero())}")


if __name__ == "__main__":
    main()
