"""Where a process finds Postgres and Redis: the configured URLs, or the embedded engines of
``HITL_DATA_DIR`` started for it (`hitl.embedded`).

The service, the worker's ``--check``, the one-off commands (``hitl migrate``, ``prune``,
``user``, ``apikey``) and agent processes all start this way, so a command run beside a
``hitl serve`` in the same folder shares its engines. Only ``hitl serve`` creates a data folder:
the others refuse when there is none, since a key or a user written to a new, empty database is
unknown to the service that runs elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from hitl import db, errors
from hitl.config import Settings
from hitl.embedded import embedded_services

log = logging.getLogger("hitl.service")


async def urls(
    settings: Settings, stack: contextlib.AsyncExitStack, *, create: bool
) -> tuple[str, str]:
    """The Postgres and Redis URLs: configured ones, or embedded engines started now (and
    stopped when ``stack`` closes). What the service, the CLI and agent processes start with.

    ``create``: whether a missing data folder may be made (``hitl serve``); without it a missing
    one raises `errors.NoDataFolder` with the fix.
    """
    if settings.database_url and settings.redis_url:
        return settings.database_url, settings.redis_url
    if not create:
        require_data_folder(settings)
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
    Postgres in ``HITL_DATA_DIR`` is started for it when ``HITL_DATABASE_URL`` is unset (and
    `errors.NoDataFolder` raised when that folder has none)."""
    async with contextlib.AsyncExitStack() as stack:
        database_url, _ = await urls(
            settings.model_copy(update={"redis_url": "unused"}), stack, create=False
        )
        async with db.create_pool(database_url, min_size=1, max_size=2) as pool:
            yield pool


def require_data_folder(settings: Settings, *, postgres: bool = True, redis: bool = True) -> None:
    """Raise `errors.NoDataFolder` unless each engine wanted (and not configured by its URL) has
    its folder in data_dir: what a command other than ``hitl serve`` checks before anything."""
    root = settings.data_dir.expanduser().resolve()
    wanted = [
        (kind, variable)
        for kind, variable, configured in (
            ("postgres", "HITL_DATABASE_URL", settings.database_url or not postgres),
            ("redis", "HITL_REDIS_URL", settings.redis_url or not redis),
        )
        if not configured
    ]
    missing = [variable for kind, variable in wanted if not (root / kind).is_dir()]
    if missing:
        raise errors.NoDataFolder(
            f"no data folder at {root}: run this from the folder where `hitl serve` runs, "
            f"or set HITL_DATA_DIR or {' and '.join(missing)}"
        )


def describe(settings: Settings, *, postgres: bool = True, redis: bool = True) -> str:
    """Which database and Redis a command uses, for a person, without passwords: the first
    thing to check when a key or a user seems unknown to the service."""
    root = settings.data_dir.expanduser().resolve()
    parts = []
    if postgres:
        parts.append(
            f"database {_without_password(settings.database_url)}"
            if settings.database_url
            else f"the embedded database in {root}"
        )
    if redis:
        parts.append(
            f"redis {_without_password(settings.redis_url)}"
            if settings.redis_url
            else f"the embedded redis in {root}"
        )
    return "using " + " and ".join(parts)


def _without_password(url: str) -> str:
    """A Postgres or Redis URL (or a Postgres ``key=value`` string) with its password hidden."""
    parts = urlsplit(url)
    if parts.scheme and parts.netloc:
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    try:
        fields = conninfo_to_dict(url)
    except psycopg.ProgrammingError:  # not one we can read: say nothing of it rather than leak it
        return "(as configured)"
    return " ".join(f"{k}={'***' if k == 'password' else v}" for k, v in fields.items())
