"""The ``hitl`` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import uuid

from hitl.launcher import base_env
from tests.conftest import ROOT


def hitl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hitl.cli", *args],
        env={**base_env(), **env},
        cwd=ROOT,
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


def test_help_names_the_environment_variables() -> None:
    out = hitl("serve", "--help", env={})
    assert out.returncode == 0
    assert "HITL_PORT" in out.stdout and "HITL_HOST" in out.stdout
