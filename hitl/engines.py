"""Where a process finds Postgres and Redis: the configured URLs, or the embedded engines of
``HITL_DATA_DIR`` started for it (`hitl.embedded`).

The service, the worker's ``--check``, the one-off commands (``hitl migrate``, ``prune``,
``user``, ``apikey``) and agent processes all start this way, so a command run beside a
``hitl serve`` in the same folder shares its engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from psycopg_pool import AsyncConnectionPool

from hitl import db
from hitl.config import Settings
from hitl.embedded import embedded_services

log = logging.getLogger("hitl.service")


async def urls(settings: Settings, stack: contextlib.AsyncExitStack) -> tuple[str, str]:
    """The Postgres and Redis URLs: configured ones, or embedded engines started now (and
    stopped when ``stack`` closes). What the service, the CLI and agent processes start with."""
    if settings.database_url and settings.redis_url:
        return settings.database_url, settings.redis_url
    manager = embedded_services(
        settings.data_dir, postgres=not settings.database_url, redis=not settings.redis_url
    )
    services = await asyncio.to_thread(manager.__enter__)
    stack.push_async_callback(asyncio.to_thread, manager.__exit__, None, None, None)
    log.info("embedded engines running in %s", settings.data_dir.resolve())
    return (
        settings.database_url or services.database_url,
        settings.redis_url or services.redis_url,
    )


@contextlib.asynccontextmanager
async def command_pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A small pool on the service's database, for a command that runs and exits: the embedded
    Postgres in ``HITL_DATA_DIR`` is started for it when ``HITL_DATABASE_URL`` is unset."""
    async with contextlib.AsyncExitStack() as stack:
        database_url, _ = await urls(settings.model_copy(update={"redis_url": "unused"}), stack)
        async with db.create_pool(database_url, min_size=1, max_size=2) as pool:
            yield pool
