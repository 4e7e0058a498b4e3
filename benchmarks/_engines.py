"""A private Postgres cluster and Redis server for runs that restart them (`benchmarks.chaos`,
`benchmarks.soak`): started from the machine's binaries on free ports in a temporary folder,
so a restart never touches a shared server.

Postgres: ``initdb`` + ``pg_ctl`` from /usr/lib/postgresql/<newest>/bin (or ``pg_config
--bindir``); Redis: ``redis-server`` on PATH, with an append-only file so a restart keeps the
streams.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis

from hitl.launcher import free_port


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())
    raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _as_owner() -> list[str]:
    """Postgres refuses to run as root: as root, run its programs as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Postgres:
    """A cluster in ``folder/pg`` on 127.0.0.1:``port``; `restart` is a fast shutdown and start."""

    def __init__(self, folder: Path) -> None:
        self.bin = _pg_bin()
        home = folder / "postgres"
        home.mkdir()
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
            shutil.chown(home, "postgres")
        self.data = home / "pg"
        self.log = home / "pg.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [
                *_as_owner(),
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        if not self.data.exists():
            subprocess.run(
                [
                    *_as_owner(),
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=300 -c shared_buffers=64MB"
        )
        self._ctl("-w", "-t", "120", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-w", "-t", "120", "-m", mode, "stop")

    def restart(self) -> None:
        """``pg_ctl stop -m fast`` (every session ended, in-flight transactions rolled back) and
        start again."""
        self.stop("fast")
        self.start()

    def pids(self) -> list[int]:
        """The postmaster's pid and those of its children (for RSS)."""
        try:
            first = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        import psutil

        with contextlib.suppress(psutil.Error):
            main = psutil.Process(first)
            return [first, *(c.pid for c in main.children())]
        return []


class Redis:
    """``redis-server`` on 127.0.0.1:``port`` with its files in ``folder/redis``."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"no redis-server; see {self.dir}/redis.log") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SHUTDOWN (the append-only file is flushed), then wait for the process."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(redis.ConnectionError):
                redis.Redis.from_url(self.url).shutdown()
            self.proc.wait(60)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def private_engines() -> Iterator[tuple[Postgres, Redis]]:
    """A fresh Postgres cluster and Redis server, removed at the end."""
    with tempfile.TemporaryDirectory(prefix="hitl-chaos-") as folder:
        pg, rd = Postgres(Path(folder)), Redis(Path(folder))
        pg.start()
        try:
            rd.start()
            try:
                yield pg, rd
            finally:
                rd.stop()
        finally:
            with contextlib.suppress(subprocess.SubprocessError):
                pg.stop("immediate")


def create_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name
