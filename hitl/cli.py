"""The ``hitl`` command: ``hitl serve``, ``hitl migrate``.

Every option falls back to its ``HITL_*`` environment variable (shown in ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hitl.config import Settings


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _run(coro: Any) -> None:
    """Run a coroutine on uvloop when it is installed (uvicorn[standard] brings it)."""
    try:
        import uvloop
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
    import uvicorn

    from hitl.api import create_app

    _configure_logging(settings.log_level)
    print(
        f"HITL service on http://{settings.host}:{settings.port}  (API docs at /docs)", flush=True
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": 15,
    }
    if not reload:
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, **options))
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
    watched = sorted({str(p) for p in _graph_dirs(settings)})
    uvicorn.run(
        "hitl.api.app:create_app", factory=True, reload=True, reload_dirs=watched, **options
    )


def _graph_dirs(settings: Settings) -> set[Path]:
    """Folders to watch for --reload: graphs/ and nodes/ here, and the packages of HITL_GRAPHS."""
    import importlib.util

    found = {Path(d).resolve() for d in ("graphs", "nodes") if Path(d).is_dir()}
    for module in settings.graph_modules:
        spec = importlib.util.find_spec(module.partition(".")[0])
        if spec and spec.origin:
            found.add(Path(spec.origin).resolve().parent)
    return found


async def _work(settings: Settings) -> None:
    import signal

    from hitl.service import Service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Service.open(settings.model_copy(update={"runner": True})) as service:
        assert service.runner is not None
        print(f"HITL worker {service.runner.owner} running graph runs", flush=True)
        await stop.wait()


async def _migrate(settings: Settings) -> None:
    import contextlib

    from hitl import db
    from hitl.db import migrate
    from hitl.service import _engines

    async with contextlib.AsyncExitStack() as stack:
        database_url, _ = await _engines(settings.model_copy(update={"redis_url": "unused"}), stack)
        async with db.create_pool(database_url, min_size=1, max_size=2) as pool:
            applied = await migrate.migrate(pool)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
    print(f"migrations: {names}")


def main(argv: Sequence[str] | None = None) -> None:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="hitl", description=__doc__.splitlines()[0])
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
        help="restart when graphs/ or nodes/ change (development)",
    )
    serve_cmd.add_argument(
        "--no-runner",
        dest="runner",
        action="store_false",
        default=defaults.runner,
        help="serve the API only; runs are executed elsewhere [HITL_RUNNER]",
    )
    commands.add_parser("worker", help="execute graph runs (no HTTP); run as many as you like")
    commands.add_parser("migrate", help="create or update the database schema and exit")

    args = parser.parse_args(argv)
    reload = bool(getattr(args, "reload", False))
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if k not in ("command", "reload") and v is not None
    }
    settings = defaults.model_copy(update=overrides)
    if args.command == "serve":
        serve(settings, reload=reload)
    elif args.command == "worker":
        _configure_logging(settings.log_level)
        _run(_work(settings))
    elif args.command == "migrate":
        _configure_logging(settings.log_level)
        asyncio.run(_migrate(settings))


if __name__ == "__main__":
    main()
