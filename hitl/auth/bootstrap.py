"""The first admin. A service that takes sign-ins must have someone who can sign in.

On first start with no admin, a service bound to a loopback address (the embedded default,
a developer machine) creates ``admin`` with a random password and prints how to sign in; on
any other address it refuses to start until an admin exists (``hitl user create NAME --role
admin``), so a fresh deployment never serves a door with no lock and a password in a log.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool

from hitl import errors
from hitl.auth import users
from hitl.config import Settings

ADMIN = "admin"


class NoAdmin(errors.CannotStart):
    """No admin account exists and the service would be reachable from other machines."""


def hitl_command() -> str:
    """How to type the ``hitl`` command from here: ``hitl`` when it is on the PATH, else the
    one beside this interpreter (``.venv/bin/hitl`` after ``make run``), so the commands a
    message suggests work when pasted."""
    beside = Path(sys.executable).parent / "hitl"
    if not beside.exists():
        return "hitl"
    on_path = shutil.which("hitl")
    if on_path is not None and Path(on_path).resolve() == beside.resolve():
        return "hitl"
    try:
        return (
            os.path.relpath(beside, Path.cwd())
            if beside.is_relative_to(Path.cwd())
            else str(beside)
        )
    except ValueError:
        return str(beside)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def ensure_admin(pool: AsyncConnectionPool[Any], settings: Settings) -> str | None:
    """Make sure an admin exists; returns the password of one created now (else None)."""
    async with pool.connection() as conn:
        if await users.any_admin(conn):
            return None
        if not is_loopback(settings.host):
            raise NoAdmin(
                f"no admin account exists, and HITL_HOST={settings.host} is reachable from "
                f"other machines: create one first with `{hitl_command()} user create NAME "
                "--role admin` "
                "(same HITL_DATABASE_URL or HITL_DATA_DIR), then start again"
            )
        password = users.generate_password()
        try:
            await users.create(
                conn, ADMIN, role="admin", password=password, actor="system:bootstrap"
            )
        except errors.Conflict:  # another replica was first, or 'admin' is a disabled account
            return None
    url = f"http://{settings.host}:{settings.port}/login"
    hitl = hitl_command()
    print(
        "\n"
        "  First start: an admin account was created.\n"
        f"  Sign in at {url} as '{ADMIN}' with password: {password}\n"
        f"  It is shown this once; `{hitl} user passwd admin` sets a new one.\n"
        f"  An API key for scripts and agents: {hitl} apikey create --name me --scopes '*'\n",
        file=sys.stderr,
        flush=True,
    )
    return password
