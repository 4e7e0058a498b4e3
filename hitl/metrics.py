"""Prometheus metrics for ``GET /metrics``: shared state read from Postgres, per-process counters.

Two kinds of figures, so that any process answers correctly whichever one is scraped:

- **Shared state** (pending requests and the age of the oldest, requests by state, the run queue,
  threads by status, webhook deliveries, notifications, disabled endpoints, events not yet
  relayed) is read from Postgres at scrape time by `StateCollector`, with a few index-backed
  queries, in the process that is scraped only: it is never written to a metrics file, so it
  cannot be counted twice. Every API process reports the same values; aggregate them with
  ``max`` (or scrape one).
- **Per-process** counters, histograms and gauges (HTTP requests; runs started, retried,
  finished, in progress and their duration; lease takeovers; webhook attempts; notifications
  sent or given up on; rows pruned; time from request to answer) are what the process's workers
  report through `Observer`. They live in a `CollectorRegistry` of their own per `Metrics` (one
  per app, so several apps in one test process do not clash), in memory; or, when the process
  runs in prometheus-client's multiprocess mode (`hitl._metrics_dir`: `hitl serve` and `hitl
  worker` sharing a folder on one host), in the folder's files, and a scrape reports the sums
  over the folder's processes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hitl import _metrics_dir, models
from hitl.db.sql import gauges as gauges_sql
from hitl.models import REQUEST_STATES, THREAD_STATUSES, Request

log = logging.getLogger("hitl.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DELIVERY_STATES = ("pending", "delivering", "succeeded", "failed")
UNMATCHED_ROUTE = (
    "<unmatched>"  # one label for every path no route matched (no cardinality blow-up)
)

# Seconds from a request's creation to its answer: people take minutes to days.
ANSWER_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
# Seconds a run takes in one process: a step to an interrupt, or a long node.
RUN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


@dataclass(frozen=True)
class PendingGroup:
    graph: str
    kind: str
    count: int
    oldest_seconds: float


@dataclass(frozen=True)
class State:
    """The shared figures, as read from Postgres at one moment."""

    pending: list[PendingGroup]
    requests: dict[str, int]
    threads: dict[str, int]
    runs_queued: int
    runs_queued_oldest_seconds: float
    runs_running: int
    deliveries: dict[str, int]
    notifications: dict[str, int]
    endpoints_disabled: int
    events_unrelayed: int
    events_unrelayed_oldest_seconds: float


async def read_state(conn: AsyncConnection[Any]) -> State:
    """The shared figures (rows come back as dicts: the pool's row factory)."""

    async def rows(sql: str) -> list[dict[str, Any]]:
        cur = await conn.execute(sql)
        return list(await cur.fetchall())

    def by(key: str, found: list[dict[str, Any]], known: Iterable[str]) -> dict[str, int]:
        counts = dict.fromkeys(known, 0)
        counts.update({r[key]: int(r["n"]) for r in found})
        return counts

    pending = [
        PendingGroup(r["graph"], r["kind"], int(r["n"]), float(r["oldest"]))
        for r in await rows(gauges_sql.PENDING_REQUESTS)
    ]
    [queue] = await rows(gauges_sql.RUN_QUEUE)
    [disabled] = await rows(gauges_sql.DISABLED_ENDPOINTS)
    [unrelayed] = await rows(gauges_sql.UNRELAYED_EVENTS)
    return State(
        pending=pending,
        requests=by("state", await rows(gauges_sql.REQUESTS_BY_STATE), REQUEST_STATES),
        threads=by("status", await rows(gauges_sql.THREADS_BY_STATUS), THREAD_STATUSES),
        runs_queued=int(queue["queued"]),
        runs_queued_oldest_seconds=float(queue["oldest"]),
        runs_running=int(queue["running"]),
        deliveries=by("state", await rows(gauges_sql.DELIVERIES_BY_STATE), DELIVERY_STATES),
        notifications=by(
            "status", await rows(gauges_sql.NOTIFICATIONS_BY_STATUS), models.NOTIFICATION_STATUSES
        ),
        endpoints_disabled=int(disabled["n"]),
        events_unrelayed=int(unrelayed["n"]),
        events_unrelayed_oldest_seconds=float(unrelayed["oldest"]),
    )


class StateCollector(Collector):
    """Yields the last `State` read (see `Metrics.exposition`) as gauges.

    ``collect`` is synchronous in prometheus-client while the pool is async, so the state is
    read before the registry is rendered, not from inside ``collect``.
    """

    def __init__(self) -> None:
        self.state: State | None = None
        self.graphs: Sequence[str] = ()
        self.read_seconds = 0.0

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "hitl_state_up", "1 if the shared figures were read from Postgres at this scrape"
        )
        up.add_metric([], 0 if self.state is None else 1)
        yield up
        took = GaugeMetricFamily(
            "hitl_state_read_seconds", "Time this scrape spent reading the shared figures"
        )
        took.add_metric([], self.read_seconds)
        yield took
        s = self.state
        if s is None:
            return

        pending = GaugeMetricFamily(
            "hitl_requests_pending", "Requests waiting for a person", labels=["graph", "kind"]
        )
        oldest = GaugeMetricFamily(
            "hitl_requests_pending_oldest_age_seconds",
            "Age of the oldest pending request",
            labels=["graph", "kind"],
        )
        # Registered graphs always report, with 0 when nothing waits, so a drained inbox reads
        # 0 rather than a series that vanished.
        groups = {(g.graph, g.kind): g for g in s.pending}
        for graph in self.graphs:
            groups.setdefault((graph, "interrupt"), PendingGroup(graph, "interrupt", 0, 0.0))
        for (graph, kind), g in sorted(groups.items()):
            pending.add_metric([graph, kind], g.count)
            oldest.add_metric([graph, kind], g.oldest_seconds)
        yield pending
        yield oldest

        yield _by_label("hitl_requests", "Requests by state", "state", s.requests)
        yield _by_label("hitl_threads", "Threads by status", "status", s.threads)
        yield _gauge("hitl_runs_queued", "Runs waiting for a worker", s.runs_queued)
        yield _gauge(
            "hitl_runs_queued_oldest_age_seconds",
            "How long the oldest due queued run has waited",
            s.runs_queued_oldest_seconds,
        )
        yield _gauge("hitl_runs_running", "Runs held by a worker", s.runs_running)
        yield _by_label(
            "hitl_webhook_deliveries", "Webhook deliveries by state", "state", s.deliveries
        )
        yield _by_label(
            "hitl_notifications",
            "Notifications (email, Slack) by status",
            "status",
            s.notifications,
        )
        yield _gauge(
            "hitl_webhook_endpoints_disabled", "Disabled webhook endpoints", s.endpoints_disabled
        )
        yield _gauge(
            "hitl_events_unrelayed", "Outbox events not yet relayed to Redis", s.events_unrelayed
        )
        yield _gauge(
            "hitl_events_unrelayed_oldest_age_seconds",
            "Age of the oldest event not yet relayed",
            s.events_unrelayed_oldest_seconds,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _by_label(name: str, documentation: str, label: str, counts: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, n in sorted(counts.items()):
        family.add_metric([key], n)
    return family


class Observer:
    """What a process's workers report as they work: runner, webhook delivery, retention,
    notifications.

    This one does nothing (`NO_METRICS`, for a `Service` without metrics); `Metrics` counts.
    """

    def run_started(self, graph: str, kind: str, attempt: int) -> None:
        """This process claimed a run; ``attempt`` > 1 after a takeover."""

    def run_finished(self, graph: str, status: str, seconds: float) -> None:
        """A run's result was committed: ``interrupted``, ``completed`` or ``failed``, after
        ``seconds`` in this process."""

    def runs_active(self, count: int) -> None:
        """This process executes ``count`` runs now."""

    def answers_applied(self, graph: str, answers: Sequence[Request]) -> None:
        """A run resumed its thread with these answers."""

    def leases_taken_over(self, work: str, count: int) -> None:
        """This process queued again ``count`` runs (``work="run"``), deliveries
        (``"webhook_delivery"``) or notifications (``"notification"``) whose worker stopped
        renewing their lease."""

    def webhook_attempted(self, outcome: str, seconds: float | None) -> None:
        """One webhook attempt ended: ``succeeded``, ``failed``, ``timeout``, ``error``, ..."""

    def webhooks_active(self, count: int) -> None:
        """This process has ``count`` webhook attempts in flight."""

    def rows_pruned(self, counts: dict[str, int]) -> None:
        """A retention batch deleted these rows, per table."""

    def notification_settled(self, channel: str, status: str) -> None:
        """A notification was ``sent``, or ``failed`` for good, by this process."""


NO_METRICS = Observer()


@dataclass
class Metrics(Observer):
    """One app's (or worker's) metrics: its own registry, the per-process figures, the state.

    ``directory`` is the metrics folder of the process (prometheus-client's multiprocess mode,
    see `hitl._metrics_dir`), or None: then the figures are this registry's, in memory.
    """

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    directory: Path | None = field(default_factory=_metrics_dir.current)
    state: StateCollector = field(default_factory=StateCollector)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "hitl_http_requests",
            "HTTP requests handled by this process, by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "hitl_http_request_duration_seconds",
            "Time to handle an HTTP request, by route template (streams: until they end)",
            ["method", "route"],
            registry=r,
        )
        self.runs_started = Counter(
            "hitl_runs_started",
            "Runs this process claimed (a takeover starts a run again)",
            ["graph", "kind"],
            registry=r,
        )
        self.runs_retried = Counter(
            "hitl_runs_retried",
            "Runs this process claimed again after an attempt that did not end (a takeover)",
            ["graph"],
            registry=r,
        )
        self.runs_finished = Counter(
            "hitl_runs_finished",
            "Runs whose result this process recorded, by the thread status they led to",
            ["graph", "status"],
            registry=r,
        )
        self.run_duration = Histogram(
            "hitl_run_duration_seconds",
            "Time from claiming a run to recording its result, in this process",
            ["graph", "status"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        # livesum: the runs in progress now, over the processes alive (a dead one's go with it).
        self.runs_in_progress = Gauge(
            "hitl_runs_in_progress",
            "Runs being executed now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.lease_takeovers = Counter(
            "hitl_lease_takeovers",
            "Runs, webhook deliveries and notifications queued again because their worker "
            "stopped renewing the lease (it crashed or hung)",
            ["work"],
            registry=r,
        )
        self.webhook_attempts = Counter(
            "hitl_webhook_attempts",
            "Webhook attempts made by this process, by outcome",
            ["outcome"],
            registry=r,
        )
        self.webhook_duration = Histogram(
            "hitl_webhook_attempt_duration_seconds",
            "Time a webhook attempt took (connection, request and the response's first bytes)",
            registry=r,
        )
        self.webhooks_in_progress = Gauge(
            "hitl_webhook_attempts_in_progress",
            "Webhook attempts in flight now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.answer_seconds = Histogram(
            "hitl_request_answer_seconds",
            "Time from a request's creation to its answer, for answers this process's runner "
            "applied",
            ["graph"],
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self.pruned_rows = Counter(
            "hitl_retention_deleted_rows",
            "Rows deleted by retention in this process, by table",
            ["table"],
            registry=r,
        )
        self.notifications = Counter(
            "hitl_notifications_settled",
            "Notifications this process sent, or gave up on (failed), by channel",
            ["channel", "status"],
            registry=r,
        )
        # What a scrape shows of the per-process figures: this registry, or the folder's files
        # (this process's among them).
        self.figures = CollectorRegistry()
        if self.directory is not None:
            MultiProcessCollector(self.figures, str(self.directory))  # type: ignore[no-untyped-call]
        else:
            self.figures.register(self.registry)
        self._scrape = CollectorRegistry()
        self._scrape.register(self.figures)
        self._scrape.register(self.state)

    # -- Observer --------------------------------------------------------------------------------

    def run_started(self, graph: str, kind: str, attempt: int) -> None:
        self.runs_started.labels(graph, kind).inc()
        if attempt > 1:
            self.runs_retried.labels(graph).inc()

    def run_finished(self, graph: str, status: str, seconds: float) -> None:
        self.runs_finished.labels(graph, status).inc()
        self.run_duration.labels(graph, status).observe(seconds)

    def runs_active(self, count: int) -> None:
        self.runs_in_progress.set(count)

    def answers_applied(self, graph: str, answers: Sequence[Request]) -> None:
        for answer in answers:
            if answer.responded_at is not None:
                waited = (answer.responded_at - answer.created_at).total_seconds()
                self.answer_seconds.labels(graph).observe(max(waited, 0.0))

    def leases_taken_over(self, work: str, count: int) -> None:
        self.lease_takeovers.labels(work).inc(count)

    def webhook_attempted(self, outcome: str, seconds: float | None) -> None:
        self.webhook_attempts.labels(outcome).inc()
        if seconds is not None:
            self.webhook_duration.observe(seconds)

    def webhooks_active(self, count: int) -> None:
        self.webhooks_in_progress.set(count)

    def rows_pruned(self, counts: dict[str, int]) -> None:
        for table, n in counts.items():
            self.pruned_rows.labels(table).inc(n)

    def notification_settled(self, channel: str, status: str) -> None:
        self.notifications.labels(channel, status).inc()

    # -- exposition ------------------------------------------------------------------------------

    async def exposition(self, pool: AsyncConnectionPool[Any], graphs: Sequence[str]) -> bytes:
        """The text format, with the shared figures read now (none if Postgres is away)."""
        async with self._lock:  # concurrent scrapes take turns on the collector's snapshot
            started = time.perf_counter()
            try:
                async with pool.connection(timeout=5) as conn:
                    self.state.state = await read_state(conn)
            except Exception as exc:
                log.warning("metrics: could not read the shared figures: %s", exc)
                self.state.state = None
            self.state.read_seconds = time.perf_counter() - started
            self.state.graphs = graphs
            if self.directory is not None:
                _metrics_dir.forget_dead(self.directory)
            return generate_latest(self._scrape)

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve the per-process figures (not the shared state: the API's /metrics has it) over
        HTTP on a thread, for a `hitl worker` that Prometheus scrapes on its own host. Stop it
        with ``shutdown()`` and ``server_close()``."""
        server, _thread = start_http_server(port, host, registry=self.figures)
        return server


class HTTPMetrics:
    """ASGI middleware counting requests by method, matched route *template* and status.

    The template (``/api/v1/requests/{request_id}/respond``) comes from the route the router
    matched (``scope["route"]``, set in place on the scope this middleware passed down), so ids
    never become labels; paths no route matched share `UNMATCHED_ROUTE`.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled children, looked up once per label set (a few dozen: routes x statuses).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless a response starts
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_template(scope)
            method = scope["method"]
            counter = self._counters.get((method, route, status))
            if counter is None:
                counter = self.metrics.http_requests.labels(method, route, str(status))
                self._counters[method, route, status] = counter
            counter.inc()
            duration = self._durations.get((method, route))
            if duration is None:
                duration = self._durations[method, route] = self.metrics.http_duration.labels(
                    method, route
                )
            duration.observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    if isinstance(route, Mount):  # static files and the like: one label for the whole mount
        return path.rstrip("/") + "/{path}"
    return path
