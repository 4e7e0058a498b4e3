"""``hitl user ...`` and ``hitl apikey ...``: accounts and keys from the command line.

They work against the same database as the service, while it runs: ``HITL_DATABASE_URL``, or
the embedded Postgres in ``HITL_DATA_DIR`` (started for the command if the service is not
running). The schema is brought up to date first, so they also work before the first start.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

from hitl import engines, errors
from hitl.auth import ROLES, SCOPES, apikeys, users
from hitl.config import Settings

ACTOR = "cli"


def add_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="manage people's accounts")
    user_cmds = user.add_subparsers(dest="user_command", required=True)
    create = user_cmds.add_parser("create", help="create an account (prints its password)")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, default="responder")
    create.add_argument("--email")
    create.add_argument("--display-name", default="")
    create.add_argument("--group", dest="groups", action="append", default=[], help="repeatable")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    user_cmds.add_parser("list", help="list accounts")
    for verb in ("disable", "enable"):
        cmd = user_cmds.add_parser(verb, help=f"{verb} an account")
        cmd.add_argument("username")
    passwd = user_cmds.add_parser("passwd", help="set a new password (prints it if generated)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")

    key = commands.add_parser("apikey", help="manage API keys")
    key_cmds = key.add_subparsers(dest="apikey_command", required=True)
    kc = key_cmds.add_parser("create", help="create a key; prints it alone on the last line")
    kc.add_argument("--name", required=True)
    kc.add_argument(
        "--scopes",
        required=True,
        help=f"comma-separated, or '*' for all: {', '.join(SCOPES)}",
    )
    key_cmds.add_parser("list", help="list keys (never the keys themselves)")
    kr = key_cmds.add_parser("revoke", help="revoke a key by its prefix (hitl_xxxxxxxx)")
    kr.add_argument("prefix")


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set and whether it was generated (and so must be printed)."""
    if args.password_stdin:
        line = sys.stdin.readline() if not sys.stdin.isatty() else getpass.getpass()
        return line.rstrip("\n"), False
    return users.generate_password(), True


async def _user(conn: AsyncConnection[Any], args: argparse.Namespace) -> None:
    match args.user_command:
        case "create":
            password, generated = _password(args)
            async with conn.transaction():
                await users.create(
                    conn,
                    args.username,
                    role=args.role,
                    password=password,
                    email=args.email,
                    display_name=args.display_name,
                    actor=ACTOR,
                )
                for group in args.groups:
                    await users.add_to_group(conn, args.username, group, actor=ACTOR)
            print(f"created {args.role} {args.username}")
            if generated:
                print(f"password: {password}")
        case "list":
            print(f"{'username':<24}{'role':<11}{'state':<10}{'email':<30}groups")
            for u in await users.list_all(conn):
                state = "disabled" if u.disabled_at else "active"
                groups = ",".join(u.groups)
                print(f"{u.username:<24}{u.role:<11}{state:<10}{u.email or '-':<30}{groups}")
        case "disable" | "enable":
            await users.set_disabled(
                conn, args.username, args.user_command == "disable", actor=ACTOR
            )
            print(f"{args.user_command}d {args.username}")
        case "passwd":
            password, generated = _password(args)
            await users.set_password(conn, args.username, password, actor=ACTOR)
            print(f"password set for {args.username}; their other sessions ended")
            if generated:
                print(f"password: {password}")


async def _apikey(conn: AsyncConnection[Any], args: argparse.Namespace) -> None:
    match args.apikey_command:
        case "create":
            new = await apikeys.create(conn, args.name, args.scopes, actor=ACTOR)
            print(f"created {new.prefix} ({new.name}) with scopes {', '.join(new.scopes)}")
            print("the key is shown this once:")
            print(new.key)
        case "list":
            print(f"{'prefix':<16}{'name':<24}{'state':<9}{'last used':<22}scopes")
            for k in await apikeys.list_all(conn):
                state = "revoked" if k.revoked_at else "active"
                used = k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "never"
                print(f"{k.prefix:<16}{k.name:<24}{state:<9}{used:<22}{','.join(k.scopes)}")
        case "revoke":
            revoked = await apikeys.revoke(conn, args.prefix, actor=ACTOR)
            print(f"revoked {revoked.prefix} ({revoked.name})")


async def run(settings: Settings, args: argparse.Namespace) -> None:
    # Lazy for start-up speed: `hitl --help` imports this module, and migrate loads LangGraph.
    from hitl.db import migrate

    action: Callable[[AsyncConnection[Any], argparse.Namespace], Awaitable[None]] = (
        _user if args.command == "user" else _apikey
    )
    async with engines.command_pool(settings) as pool:
        await migrate.migrate(pool)
        async with pool.connection() as conn:
            try:
                await action(conn, args)
            except errors.HITLError as exc:
                sys.exit(f"hitl {args.command}: {errors.describe(exc.detail)}")
