"""What a chaos or soak run runs (`benchmarks.chaos`, `benchmarks.soak`): the API process and
the workers (`Cluster`), on engines of the run's own (`benchmarks._engines`), with the harness's
webhook receiver, SMTP server and bus consumer group."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from redis.asyncio import Redis as AsyncRedis

from benchmarks import _engines, chaos_graph
from hitl.bus import Bus
from hitl.launcher import ServiceProcess, base_env, free_port

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "hitl:chaos:"
GRAPHS = "graphs,benchmarks.chaos_graph"
DEADLINE_SECONDS = 4.0
GROUP = "chaos-audit"


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
    """The API processes (replicas, each on its own port, sharing the engines as replicas
    behind a load balancer do) and the workers; kill and restart them by index."""

    def __init__(self, env: dict[str, str], logs: Path, workers: int = 2, apis: int = 1) -> None:
        self.env = env
        self.logs = logs
        self.apis = [
            ServiceProcess(
                {**env, "HITL_RUNNER": "false"},
                logs / ("api.log" if apis == 1 else f"api{i}.log"),
                cwd=ROOT,
            )
            for i in range(apis)
        ]
        while len({api.port for api in self.apis}) < apis:  # (two free ports that came out one)
            self.apis[-1].port = free_port()
            self.apis[-1].env["HITL_PORT"] = str(self.apis[-1].port)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.n_workers = workers

    @property
    def api(self) -> ServiceProcess:
        """The first API replica (where the run's setup goes)."""
        return self.apis[0]

    @property
    def urls(self) -> list[str]:
        return [api.url for api in self.apis]

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
        for api in self.apis:  # one at a time: the first migrates the database
            api.start()
            api.wait_ready()
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

    def kill_api(self, i: int = 0) -> None:
        """SIGKILL API replica ``i`` and start it again on the same port."""
        self.apis[i].kill()
        self.apis[i].start()
        self.apis[i].wait_ready(120)

    def pids(self) -> dict[str, int]:
        found = {f"worker{i}": w.pid for i, w in enumerate(self.workers) if w.poll() is None}
        for i, api in enumerate(self.apis):
            if api.proc and api.proc.poll() is None:
                found["api" if len(self.apis) == 1 else f"api{i}"] = api.proc.pid
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
        for api in self.apis:
            if api.proc and api.proc.poll() is None:
                try:
                    api.terminate(30)
                except subprocess.TimeoutExpired:
                    api.kill()

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
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve on ``port`` (again, after `stop`)."""
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

    async def stop(self) -> None:
        """Stop serving: connections to ``port`` are refused until `start`."""
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
def system(
    extra: dict[str, str] | None = None, workers: int = 2, apis: int = 1
) -> Iterator[System]:
    """Private engines, a database, the API replicas and the workers (``extra``: more
    settings); API keys for alice and bob."""
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
            service_env(database_url, rd.url, **mail, **(extra or {})), Path(logs), workers, apis
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


@contextlib.asynccontextmanager
async def background() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
