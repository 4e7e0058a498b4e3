"""The ``hitl`` command: ``hitl serve``, ``worker``, ``agent``, ``migrate``, ``prune``.

Every option falls back to its ``HITL_*`` environment variable (shown in ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from redis.asyncio import Redis

from hitl import _metrics_dir, config, engines, errors, logcontext
from hitl.auth import commands as commands_of_auth
from hitl.config import Settings


class _WorkerName(logging.Filter):
    """Adds ``%(worker)s`` to every record: which process (or which runner) did it."""

    name_ = f"{socket.gethostname()}:{os.getpid()}"

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.name_
        return True


_worker_name = _WorkerName()
_handler: logging.Handler | None = None


def _formatter(log_format: str) -> type[logging.Formatter]:
    """JSON lines, or readable ones (``auto``: readable on a terminal)."""
    json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    return logcontext.JSONFormatter if json else logcontext.PlainFormatter


def _logging_config(level: str, log_format: str) -> dict[str, Any]:
    """What `_configure_logging` does, as a `logging.config.dictConfig` dict: for the processes
    ``uvicorn --reload`` starts, which apply it themselves. Without it their root logger has no
    handler, and the service's own lines (INFO) vanish while uvicorn's come in its own format.
    """
    formatter = _formatter(log_format)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"worker": {"()": f"{__name__}._WorkerName"}},
        "formatters": {"hitl": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "hitl",
                "filters": ["worker"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # uvicorn's own loggers: no handlers of their own, through the root's (one format)
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def _configure_logging(level: str, log_format: str = "auto") -> None:
    """Log to stderr: one JSON object per line, or readable lines (``auto``: on a terminal)."""
    global _handler
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_worker_name)
    handler.setFormatter(_formatter(log_format)())
    root = logging.getLogger()
    if _handler is not None:  # configured again (in-process callers): replace, not add
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _handler = handler


def _run(coro: Any) -> None:
    """Run a coroutine on uvloop when it is installed (uvicorn[standard] brings it)."""
    try:
        import uvloop  # optional: installed with uvicorn[standard]
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def serve(settings: Settings, *, reload: bool = False) -> None:
    """Run the HTTP service (and, unless ``HITL_RUNNER=false``, the runner) until stopped.

    ``reload`` restarts it when a file under ``graphs/`` or ``nodes/`` (in the working
    directory) changes: for development. The restarted process reads its settings from the
    environment, so the command-line options are passed on as ``HITL_*`` variables.
    """
    # Lazy for start-up speed: the server and the app (FastAPI, LangGraph) load only to serve,
    # so `hitl --help` and the one-off commands stay fast.
    import uvicorn

    from hitl.api import create_app

    _configure_logging(settings.log_level, settings.log_format)
    _check_graphs(settings)
    _share_metrics(settings)
    print(
        f"HITL service on http://{settings.host}:{settings.port}  (API docs at /docs)", flush=True
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": 15,
        # the app reads forwarded headers itself, from HITL_FORWARDED_ALLOW_IPS (hitl/api/app.py)
        "proxy_headers": False,
    }
    if not reload:
        app = create_app(settings)
        # uvicorn's loggers propagate to the root handler configured above (same format).
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, **options))
        # Long-lived responses (the UI's event streams) end as soon as shutdown starts, instead
        # of holding it for the whole graceful-shutdown timeout.
        app.state.closing = closing = asyncio.Event()
        handle_exit = server.handle_exit

        def on_exit(sig: int, frame: Any) -> None:
            closing.set()
            handle_exit(sig, frame)

        server.handle_exit = on_exit  # type: ignore[method-assign]
        server.run()
        return
    os.environ["HITL_RUNNER"] = str(settings.runner).lower()
    os.environ["HITL_GRAPHS"] = settings.graphs
    # The address too: the restarted process decides by it whether to make an admin itself.
    os.environ["HITL_HOST"] = settings.host
    os.environ["HITL_PORT"] = str(settings.port)
    watched = sorted({str(p) for p in _graph_dirs(settings)})
    # Python files, and a langgraph.json project's own file and .env (uvicorn: *.py only).
    configs = {Path(m).name for m in settings.graph_modules if m.endswith(".json")}
    includes = [*sorted(configs), ".env", "*.env"] if configs else None
    uvicorn.run(
        "hitl.api.app:create_app",
        factory=True,
        log_config=_logging_config(settings.log_level, settings.log_format),
        reload=True,
        reload_dirs=watched,
        reload_includes=includes,
        **options,
    )


def _check_graphs(settings: Settings) -> None:
    """Load the graphs of HITL_GRAPHS before anything starts: one that cannot be loaded ends
    the command with the reason (naming the graph and its path), not a half-configured service.
    """
    # Lazy for start-up speed: they load LangGraph and the graphs' code.
    from hitl import langgraph_json
    from hitl.registry import default_registry

    try:
        langgraph_json.load_graphs(settings.graph_modules, default_registry)
    except langgraph_json.GraphLoadError as exc:
        sys.exit(exc.line())


def _graph_dirs(settings: Settings) -> set[Path]:
    """Folders to watch for --reload: graphs/ and nodes/ here, the packages of HITL_GRAPHS and
    the folders of the langgraph.json files it names."""
    found = {Path(d).resolve() for d in ("graphs", "nodes") if Path(d).is_dir()}
    for module in settings.graph_modules:
        if module.endswith(".json"):  # a langgraph.json: its project's folder
            found.add(Path(module).resolve().parent)
            continue
        spec = importlib.util.find_spec(module.partition(".")[0])
        if spec and spec.origin:
            found.add(Path(spec.origin).resolve().parent)
    return found


def _share_metrics(settings: Settings) -> None:
    """The processes of this host that share a metrics folder report each other's figures
    (prometheus-client's multiprocess mode, see hitl/_metrics_dir.py). Process-wide: only the
    commands that own their process (serve, worker) turn it on, before any metric exists."""
    folder = settings.shared_metrics_dir
    if folder is not None:
        _metrics_dir.use(folder)


async def _work(settings: Settings) -> None:
    # Lazy for start-up speed: the service loads LangGraph and every worker; `hitl --help`
    # should not.
    from hitl.metrics import Metrics
    from hitl.service import Service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = Metrics()
    exporter = None
    if settings.metrics_port is not None:  # scraped on its own host (no shared state in it)
        exporter = metrics.serve(settings.host, settings.metrics_port)
        print(f"metrics on http://{settings.host}:{settings.metrics_port}/metrics", flush=True)
    try:
        async with Service.open(
            settings.model_copy(update={"runner": True}), kind="worker", observer=metrics
        ) as service:
            assert service.runner is not None
            _worker_name.name_ = service.runner.owner  # log lines name the runs' lease owner
            print(f"HITL worker {service.runner.owner} running graph runs", flush=True)
            await stop.wait()
            logging.getLogger("hitl.worker").info("stopping: no new runs; finishing the held ones")
    finally:
        if exporter is not None:
            await asyncio.to_thread(exporter.shutdown)
            exporter.server_close()
    logging.getLogger("hitl.worker").info("stopped")


async def _check(settings: Settings) -> list[str]:
    """What keeps a worker from working: Postgres or Redis unreachable, migrations pending."""
    # Lazy for start-up speed: migrate loads LangGraph's saver; `hitl --help` should not.
    from hitl.db import migrate

    problems = []
    async with contextlib.AsyncExitStack() as stack:
        database_url, redis_url = await engines.urls(settings, stack, create=False)
        try:
            async with await psycopg.AsyncConnection.connect(
                database_url, connect_timeout=5
            ) as conn:
                missing = await migrate.pending(conn)
            if missing:
                names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
                problems.append(f"migrations pending: {names} (run hitl migrate)")
        except Exception as exc:
            problems.append(f"postgres unreachable: {exc}")
        redis = Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5)
        try:
            await redis.ping()
        except Exception as exc:
            problems.append(f"redis unreachable: {exc}")
        finally:
            await redis.aclose()
    return problems


def check(settings: Settings) -> int:
    """``hitl worker --check``: 0 when a worker could start work, else 1 with the reasons."""
    problems = asyncio.run(_check(settings))
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("ready: postgres and redis reachable, migrations applied")
    return 1 if problems else 0


async def _agent(settings: Settings, spec: str) -> None:
    import signal

    from hitl.agents import run_agent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_agent(spec, settings, stop)


async def _prune(settings: Settings, dry_run: bool) -> None:
    # Lazy for start-up speed: migrate loads LangGraph's saver; `hitl --help` should not.
    from hitl import retention
    from hitl.db import migrate

    async with engines.command_pool(settings) as pool:
        if not await migrate.is_current(pool):
            sys.exit("migrations pending: run hitl migrate first")
        pruned = await retention.prune(pool, settings, dry_run=dry_run)
    print(f"{'table':<26}{'would go' if dry_run else 'deleted':>12}")
    for table, n in pruned.rows.items():
        print(f"{table:<26}{n:>12}")


async def _migrate(settings: Settings) -> None:
    # Lazy for start-up speed: migrate loads LangGraph's saver; `hitl --help` should not.
    from hitl.db import migrate

    async with engines.command_pool(settings) as pool:
        applied = await migrate.migrate(pool)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
    print(f"migrations: {names}")


def main(argv: Sequence[str] | None = None) -> None:
    try:
        defaults = config.from_environment()
    except errors.BadSettings as exc:
        sys.exit(exc.line())
    parser = argparse.ArgumentParser(
        prog="hitl",
        description="Human-in-the-loop orchestration for LangGraph: the service, its workers "
        "and agents, and the one-off commands beside them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the service")
    serve_cmd.add_argument(
        "--host", default=defaults.host, help=f"bind address [HITL_HOST, now {defaults.host}]"
    )
    serve_cmd.add_argument(
        "--port", type=int, default=defaults.port, help=f"port [HITL_PORT, now {defaults.port}]"
    )
    serve_cmd.add_argument(
        "--reload",
        action="store_true",
        help="restart when graphs/ or nodes/ (or a langgraph.json project) change (development)",
    )
    serve_cmd.add_argument(
        "--no-runner",
        dest="runner",
        action="store_false",
        default=defaults.runner,
        help="serve the API only; runs are executed elsewhere [HITL_RUNNER]",
    )
    serve_cmd.add_argument(
        "--workers",
        type=int,
        choices=(0, 1),
        default=None,
        help="0: serve the API only, like --no-runner (run hitl worker processes instead)",
    )
    worker_cmd = commands.add_parser(
        "worker", help="execute graph runs (no HTTP); run as many as you like"
    )
    for cmd in (serve_cmd, worker_cmd):
        cmd.add_argument(
            "--graphs",
            default=defaults.graphs,
            help="comma-separated modules that register graphs and langgraph.json files whose "
            f"graphs are served (see docs/langgraph-json.md) [HITL_GRAPHS, now {defaults.graphs}]",
        )
    worker_cmd.add_argument(
        "--metrics-port",
        type=int,
        default=defaults.metrics_port,
        help="serve this process's /metrics on this port, at HITL_HOST (for a worker on a host "
        f"of its own) [HITL_METRICS_PORT, now {defaults.metrics_port or 'off'}]",
    )
    worker_cmd.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if Postgres and Redis answer and migrations are applied, else 1 (readiness)",
    )
    agent_cmd = commands.add_parser("agent", help="run an event-bus agent: hitl agent module:Class")
    agent_cmd.add_argument(
        "agent", help="the Agent subclass, as module:Class (installed, or in the current folder)"
    )
    agent_cmd.add_argument(
        "--url",
        dest="service_url",
        default=defaults.service_url,
        help=f"the service's base URL [HITL_SERVICE_URL, now {defaults.service_url}]",
    )
    commands.add_parser("migrate", help="create or update the database schema and exit")
    prune_cmd = commands.add_parser(
        "prune", help="delete what has aged out (HITL_RETENTION_* settings) and exit"
    )
    prune_cmd.add_argument(
        "--dry-run", action="store_true", help="count per table what would go; delete nothing"
    )

    commands_of_auth.add_commands(commands)

    args = parser.parse_args(argv)
    reload = bool(getattr(args, "reload", False))
    # Options that are settings override them; the others (subcommands' own) do not.
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None
    }
    if getattr(args, "workers", None) is not None:
        overrides["runner"] = args.workers > 0
    settings = defaults.model_copy(update=overrides)
    if args.command == "serve":
        serve(settings, reload=reload)
        return
    # The other commands use what a service made: say which, and refuse to make a new one.
    uses = {"postgres": args.command != "agent", "redis": args.command in ("worker", "agent")}
    using = f"hitl {args.command}: {engines.describe(settings, **uses)}"
    if args.command in ("worker", "agent") and not getattr(args, "check", False):
        _configure_logging(settings.log_level, settings.log_format)
        logging.getLogger("hitl.cli").info(using)  # in the format of the lines that follow
    else:
        print(using, file=sys.stderr, flush=True)  # stdout is the command's output
    try:
        engines.require_data_folder(settings, **uses)
        _command(settings, args)
    except errors.NoDataFolder as exc:
        sys.exit(f"hitl {args.command}: {exc.detail}")
    except errors.CannotStart as exc:  # a worker's (`serve` says it in hitl.api.refusals)
        sys.exit(exc.line())


def _command(settings: Settings, args: argparse.Namespace) -> None:
    """Run a command other than ``serve``."""
    if args.command == "worker":
        if args.check:
            sys.exit(check(settings))
        _check_graphs(settings)  # (logging was configured by `main`)
        _share_metrics(settings)
        _run(_work(settings))
    elif args.command == "agent":
        _run(_agent(settings, args.agent))
    elif args.command == "migrate":
        _configure_logging(settings.log_level, settings.log_format)
        asyncio.run(_migrate(settings))
    elif args.command in ("user", "apikey"):
        _configure_logging("warning", settings.log_format)
        asyncio.run(commands_of_auth.run(settings, args))
    elif args.command == "prune":
        _configure_logging(settings.log_level, settings.log_format)
        asyncio.run(_prune(settings, args.dry_run))


if __name__ == "__main__":
    main()
