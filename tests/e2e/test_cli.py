"""The ``hitl`` command as a user runs it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hitl.config import Settings
from hitl.engines import describe
from hitl.launcher import ServiceProcess, base_env, free_port
from tests.conftest import ROOT
from tests.support import auth


def hitl(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hitl.cli", *args],
        env={**base_env(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_applies_once(engines: tuple[str, str]) -> None:
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"hitl_cli_migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(engines[0], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {"HITL_DATABASE_URL": make_conninfo(engines[0], dbname=name)}
        first = hitl("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert "0001_init" in first.stdout
        again = hitl("migrate", env=env)
        assert again.returncode == 0, again.stderr
        assert "nothing to apply" in again.stdout
    finally:
        with psycopg.connect(engines[0], autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_commands_run_from_another_folder_refuse_to_make_a_data_folder(tmp_path: Path) -> None:
    # A key made in a new, empty database would be "unknown" to the service running elsewhere.
    for command in (
        ["apikey", "create", "--name", "ci", "--scopes", "threads:read"],
        ["user", "list"],
        ["migrate"],
        ["prune", "--dry-run"],
        ["worker", "--check"],
        ["worker", "--graphs", "graphs"],
        ["agent", "examples.agent_chain:CodeReviewAgent"],
    ):
        env = {"PYTHONPATH": str(ROOT), "HITL_LOG_FORMAT": "json"}
        out = hitl(*command, env=env, cwd=tmp_path)
        assert out.returncode != 0, command
        assert f"no data folder at {tmp_path / '.hitl'}" in out.stderr, out.stderr
        assert "HITL_DATA_DIR" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr, out.stderr
        assert not (tmp_path / ".hitl").exists(), command
        if command[0] == "agent":  # it needs only Redis
            assert "HITL_REDIS_URL" in out.stderr and "HITL_DATABASE_URL" not in out.stderr
        if command[0] == "agent" or command == ["worker", "--graphs", "graphs"]:
            # long-running: which engines, as a log line in the format of the ones to follow
            said = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
            assert "using the embedded" in said[0]["message"], out.stderr


def test_commands_say_which_database_they_use(database_url: str) -> None:
    listed = hitl("apikey", "list", env={"HITL_DATABASE_URL": database_url})
    assert listed.returncode == 0, listed.stderr
    assert "hitl apikey: using database " in listed.stderr
    assert database_url.split("dbname=")[-1].split()[0] in listed.stderr
    embedded = Settings(data_dir=Path("/srv/hitl/.hitl"))
    assert describe(embedded) == (
        "using the embedded database in /srv/hitl/.hitl and the embedded redis in /srv/hitl/.hitl"
    )
    secret = Settings(
        database_url="postgresql://app:s3cret@db:5432/hitl", redis_url="redis://:s3cret@r:6379/0"
    )
    described = describe(secret)
    assert "s3cret" not in described
    assert "postgresql://app:***@db:5432/hitl" in described and "redis://:***@r:6379/0" in described


def test_help_names_the_environment_variables() -> None:
    out = hitl("serve", "--help", env={})
    assert out.returncode == 0
    assert "HITL_PORT" in out.stdout and "HITL_HOST" in out.stdout
    for command in ([], ["serve"], ["worker"], ["apikey", "create"]):
        shown = hitl(*command, "--help", env={}).stdout
        assert "`" not in shown, shown  # plain text, no reStructuredText marks


async def test_a_public_address_needs_an_admin_first_then_users_and_keys_from_the_cli(
    make_server: Callable[..., ServiceProcess],
    database_url: str,
    http: Callable[[str], httpx.AsyncClient],
) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM hitl_users")  # a fresh deployment: nobody yet
    env = {"HITL_DATABASE_URL": database_url}

    server = make_server()
    server.start(extra_env={"HITL_HOST": "0.0.0.0"})  # reachable from other machines
    assert server.wait_exit(60) != 0
    assert "no admin account exists" in server.log()
    assert "hitl user create NAME --role admin" in server.log()

    created = hitl("user", "create", "boss", "--role", "admin", "--group", "ops", env=env)
    assert created.returncode == 0, created.stderr
    password = created.stdout.strip().splitlines()[-1].removeprefix("password: ")
    server.start(extra_env={"HITL_HOST": "0.0.0.0"})
    server.wait_ready()
    assert "First start" not in server.log()  # an admin existed: none was made up

    # the CLI works while the service runs, on the same database
    made = hitl("apikey", "create", "--name", "ci", "--scopes", "threads:read", env=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("hitl_") and len(key) > 40
    client = http(server.url)
    client.headers["Authorization"] = f"Bearer {key}"
    assert (await client.get("/api/v1/threads")).status_code == 200
    assert (await client.get("/api/v1/requests")).status_code == 403  # not in its scopes
    listed = hitl("apikey", "list", env=env)
    assert "ci" in listed.stdout and key not in listed.stdout
    prefix = key[: len("hitl_") + 8]
    assert hitl("apikey", "revoke", prefix, env=env).returncode == 0
    # the service hears of it (NOTIFY) and forgets the key it had resolved
    deadline = time.monotonic() + 10
    while (await client.get("/api/v1/threads")).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        await asyncio.sleep(0.05)

    bad = hitl("apikey", "create", "--name", "x", "--scopes", "everything", env=env)
    assert bad.returncode != 0 and "unknown scope 'everything'" in bad.stderr
    people = hitl("user", "list", env=env)
    assert "boss" in people.stdout and "ops" in people.stdout
    session = http(server.url)
    session.headers.pop("Authorization")
    await auth.sign_in(session, "boss", password)
    assert hitl("user", "disable", "boss", env=env).returncode == 0
    assert (await session.get("/api/v1/me")).status_code == 401
    server.terminate()


@pytest.mark.parametrize(
    ("command", "env", "words"),
    [
        (
            ["-m", "hitl.cli", "serve", "--host", "0.0.0.0"],
            {},
            ["no admin account exists", "HITL_HOST=0.0.0.0", "user create NAME --role admin"],
        ),
        (
            ["server.py"],
            {"HITL_HOST": "0.0.0.0"},
            ["no admin account exists", "user create NAME --role admin"],
        ),
        (
            ["-m", "hitl.cli", "serve"],
            {"HITL_PORT": "eighty"},
            ["HITL_PORT: Input should be a valid integer", "correct the environment variable"],
        ),
        (
            ["-m", "hitl.cli", "worker"],
            {"HITL_PUBLIC_URL": "hitl.example.com"},
            ["HITL_PUBLIC_URL: must be an http or https URL"],
        ),
        (
            ["-m", "hitl.cli", "worker"],
            {"HITL_GRAPHS": "no_such_graphs"},
            ["importing module 'no_such_graphs' failed"],
        ),
        (
            ["-m", "hitl.cli", "serve"],
            {"HITL_DATABASE_URL": "", "HITL_DATA_DIR": "{tmp}/My Projects/.hitl"},
            ["embedded postgres: cannot run in", "choose another data folder"],
        ),
    ],
    ids=[
        "serve-no-admin",
        "server.py-no-admin",
        "serve-bad-setting",
        "worker-bad-setting",
        "worker-bad-graphs",
        "serve-data-dir-with-a-space",
    ],
)
def test_a_refusal_to_start_is_one_line_without_a_traceback(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    command: list[str],
    env: dict[str, str],
    words: list[str],
) -> None:
    # What the operator reads: the reason and the fix on one line, not the server's traceback.
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM hitl_users")  # a fresh deployment: nobody yet
    refused = subprocess.run(
        [sys.executable, *command],
        env={
            **base_env(),
            "HITL_DATABASE_URL": database_url,
            "HITL_REDIS_URL": redis_url,
            "HITL_PORT": str(free_port()),
            **{name: value.format(tmp=tmp_path) for name, value in env.items()},
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    [line] = [line for line in refused.stderr.splitlines() if "cannot start" in line]
    assert line.startswith("hitl: cannot start: "), refused.stderr
    for word in words:
        assert word in line, line


def test_prune_counts_then_deletes_finished_runs_of_live_threads(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO hitl_threads (thread_id, graph, status) VALUES ('t', 'g', 'interrupted')"
        )
        conn.execute(
            "INSERT INTO hitl_runs (thread_id, kind, status, finished_at)"
            " VALUES ('t', 'start', 'done', now() - interval '2 days'),"
            "        ('t', 'resume', 'done', now())"  # young: stays
        )
    env = {"HITL_DATABASE_URL": database_url, "HITL_RETENTION_RUNS_SECONDS": "86400"}

    dry = hitl("prune", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would go" in dry.stdout and "hitl_runs" in dry.stdout
    [line] = [row for row in dry.stdout.splitlines() if row.startswith("hitl_runs")]
    assert line.split() == ["hitl_runs", "1"]

    real = hitl("prune", env=env)
    assert real.returncode == 0, real.stderr
    [line] = [row for row in real.stdout.splitlines() if row.startswith("hitl_runs")]
    assert line.split() == ["hitl_runs", "1"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT kind FROM hitl_runs").fetchall() == [("resume",)]
