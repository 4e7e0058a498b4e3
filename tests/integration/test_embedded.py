"""The embedded Postgres and Redis: data survives restarts, crashes leave nothing that blocks.

Every test runs the real engines in its own tmp folder; the `reaper` fixture kills whatever
engine or helper process is left over, even when a test fails half-way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from redis.asyncio import Redis

from hitl import embedded, errors
from hitl.embedded import EmbeddedServices, embedded_services

REPO = Path(__file__).resolve().parents[2]

# A service stand-in: starts the engines, writes a row and a stream entry, reports its URLs,
# then holds the engines until its stdin closes (a clean exit) or it is killed.
OWNER = """
import dataclasses, json, sys
from pathlib import Path
import psycopg, redis
from hitl.embedded import embedded_services

with embedded_services(Path(sys.argv[1])) as services:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE answers (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO answers VALUES (1, 'from the owner')")
    client = redis.Redis.from_url(services.redis_url)
    client.xadd("hitl:events:t1", {"kind": "answered"})
    client.close()
    print(json.dumps(dataclasses.asdict(services)), flush=True)
    sys.stdin.read()
"""


class Reaper:
    """Helper processes to kill and a data folder to sweep for engines at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.helpers: list[subprocess.Popen[str]] = []

    def owner(self, data_dir: Path) -> tuple[subprocess.Popen[str], EmbeddedServices]:
        """Run `OWNER` on data_dir in a subprocess; return it once its engines are up."""
        stderr_path = self.root / f"owner-{len(self.helpers)}.stderr"
        stderr = stderr_path.open("w")
        proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-c", OWNER, str(data_dir)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        stderr.close()
        self.helpers.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            code = proc.wait(timeout=30)
            pytest.fail(
                f"owner exited with {code} before its engines were up:\n{stderr_path.read_text()}"
            )
        return proc, EmbeddedServices(**json.loads(line))

    def sweep(self) -> None:
        for proc in self.helpers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        for engine in engine_processes(self.root):
            engine.kill()
        psutil.wait_procs(engine_processes(self.root), timeout=10)


@pytest.fixture
def reaper(tmp_path: Path) -> Iterator[Reaper]:
    reaper = Reaper(tmp_path.resolve())
    try:
        yield reaper
    finally:
        reaper.sweep()


def engine_processes(root: Path) -> list[psutil.Process]:
    """Live postgres and redis-server processes working anywhere under root."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] not in ("postgres", "redis-server"):
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cwd = Path(proc.cwd())
        except psutil.Error:
            continue
        if cwd == root or root in cwd.parents:
            found.append(proc)
    return found


def engine_names(root: Path) -> set[str]:
    return {proc.name() for proc in engine_processes(root)}


def wait_no_engines(root: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while engine_processes(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine_processes(root) == []


def engine_pids(data_dir: Path) -> tuple[int, int]:
    """(postmaster pid, redis-server pid) from the pid files."""
    postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    return postmaster, int((data_dir / "redis" / "redis.pid").read_text())


def private_socket(path: Path) -> bool:
    """A socket whose folder only its owner can enter."""
    return path.is_socket() and path.parent.stat().st_mode & 0o077 == 0


def answers(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, body FROM answers ORDER BY id").fetchall()


def answers_or_none(url: str) -> list[tuple[int, str]] | None:
    """The answers table, or None if there is none yet."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('answers')").fetchone() == (None,):
            return None
    return answers(url)


async def stream(url: str) -> list[dict[bytes, bytes]]:
    client = Redis.from_url(url)
    try:
        return [fields for _, fields in await client.xrange("hitl:events:t1")]
    finally:
        await client.aclose()


async def test_data_survives_a_restart_and_stop_leaves_no_process(
    tmp_path: Path, reaper: Reaper
) -> None:
    data_dir = tmp_path / ".hitl"
    with embedded_services(data_dir) as services:
        assert engine_names(data_dir) == {"postgres", "redis-server"}
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE answers (id int PRIMARY KEY, body text)")
            conn.execute("INSERT INTO answers VALUES (1, 'approve')")
        client = Redis.from_url(services.redis_url)
        await client.xadd("hitl:events:t1", {"kind": "answered"})
        await client.aclose()
    wait_no_engines(data_dir)
    assert (data_dir / "postgres" / "PG_VERSION").is_file()
    assert (data_dir / "redis" / "appendonly.aof").stat().st_size > 0
    assert "ready to accept connections" in (data_dir / "redis" / "redis.log").read_text()

    with embedded_services(data_dir) as services:
        assert answers(services.database_url) == [(1, "approve")]
        assert await stream(services.redis_url) == [{b"kind": b"answered"}]
    wait_no_engines(data_dir)


def test_only_the_requested_engines_start(tmp_path: Path, reaper: Reaper) -> None:
    data_dir = tmp_path / ".hitl"
    with embedded_services(data_dir, postgres=False) as services:
        assert services.database_url == ""
        assert services.redis_url.startswith("unix://")
        assert engine_names(data_dir) == {"redis-server"}
    with embedded_services(data_dir, redis=False) as services:
        assert services.redis_url == ""
        assert engine_names(data_dir) == {"postgres"}
    wait_no_engines(data_dir)


def test_nested_blocks_share_the_engines(tmp_path: Path, reaper: Reaper) -> None:
    data_dir = tmp_path / ".hitl"
    with embedded_services(data_dir) as outer:
        pids = engine_pids(data_dir)
        with embedded_services(data_dir) as inner:
            assert inner == outer
        assert engine_pids(data_dir) == pids
        assert engine_names(data_dir) == {"postgres", "redis-server"}
    wait_no_engines(data_dir)


def test_engines_stay_while_another_process_uses_them(tmp_path: Path, reaper: Reaper) -> None:
    data_dir = tmp_path / ".hitl"
    owner, owner_services = reaper.owner(data_dir)
    pids = engine_pids(data_dir)
    with embedded_services(data_dir) as services:
        assert services == owner_services
        assert engine_pids(data_dir) == pids
    assert engine_names(data_dir) == {"postgres", "redis-server"}
    assert answers(services.database_url) == [(1, "from the owner")]

    assert owner.stdin is not None
    owner.stdin.close()  # the owner leaves its block: it is the last user now
    assert owner.wait(timeout=30) == 0
    wait_no_engines(data_dir)


async def test_engines_of_a_killed_owner_are_adopted_then_stopped(
    tmp_path: Path, reaper: Reaper
) -> None:
    data_dir = tmp_path / ".hitl"
    owner, owner_services = reaper.owner(data_dir)
    pids = engine_pids(data_dir)
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=30)
    assert engine_names(data_dir) == {"postgres", "redis-server"}  # orphans

    with embedded_services(data_dir) as services:
        assert services == owner_services
        assert engine_pids(data_dir) == pids
        assert answers(services.database_url) == [(1, "from the owner")]
        assert await stream(services.redis_url) == [{b"kind": b"answered"}]
    wait_no_engines(data_dir)


async def test_stale_pid_files_of_killed_engines_are_replaced(
    tmp_path: Path, reaper: Reaper
) -> None:
    data_dir = tmp_path / ".hitl"
    owner, _ = reaper.owner(data_dir)
    for pid in (owner.pid, *engine_pids(data_dir)):
        os.kill(pid, signal.SIGKILL)
    owner.wait(timeout=30)
    wait_no_engines(data_dir)  # a killed postmaster's backends exit on their own
    # The pid files, sockets and postgres' shared memory are left behind. Make the pid files
    # name a live process that is no engine, as after a container restart.
    postmaster_pid = data_dir / "postgres" / "postmaster.pid"
    lines = postmaster_pid.read_text().splitlines()
    postmaster_pid.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    (data_dir / "redis" / "redis.pid").write_text(f"{os.getpid()}\n")
    assert (data_dir / "redis" / "redis.sock").exists()

    with embedded_services(data_dir) as services:
        assert os.getpid() not in engine_pids(data_dir)
        assert answers(services.database_url) == [(1, "from the owner")]
        assert await stream(services.redis_url) == [{b"kind": b"answered"}]
    wait_no_engines(data_dir)


async def test_a_deep_data_dir_gets_short_sockets(tmp_path: Path, reaper: Reaper) -> None:
    data_dir = tmp_path / ("deep-" * 8) / ("er-" * 10) / ".hitl"
    assert len(str(data_dir)) > 110
    with embedded_services(data_dir) as services:
        redis_socket = Path(services.redis_url.removeprefix("unix://"))
        assert not redis_socket.is_relative_to(data_dir)
        assert private_socket(redis_socket)
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE answers (id int PRIMARY KEY, body text)")
            conn.execute("INSERT INTO answers VALUES (2, 'deep')")
            socket_dir = Path(conn.info.host)
        assert not socket_dir.is_relative_to(data_dir)
        assert private_socket(socket_dir / ".s.PGSQL.5432")
        client = Redis.from_url(services.redis_url)
        await client.xadd("hitl:events:t1", {"kind": "deep"})
        await client.aclose()
    wait_no_engines(data_dir)
    assert not redis_socket.parent.exists()

    with embedded_services(data_dir) as again:
        assert again == services
        assert answers(again.database_url) == [(2, "deep")]
        assert await stream(again.redis_url) == [{b"kind": b"deep"}]
    wait_no_engines(data_dir)


def test_engines_stop_at_exit_when_the_block_is_never_left(tmp_path: Path, reaper: Reaper) -> None:
    data_dir = tmp_path / ".hitl"
    script = (
        "import sys; from pathlib import Path; from hitl.embedded import embedded_services; "
        "block = embedded_services(Path(sys.argv[1])); block.__enter__()"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert (data_dir / "redis" / "dump.rdb").exists()  # it did start
    wait_no_engines(data_dir)


def test_a_pg_ctl_timeout_is_retried(
    tmp_path: Path, reaper: Reaper, monkeypatch: pytest.MonkeyPatch
) -> None:
    pgserver = embedded._postgres._import_pgserver()
    real_get_server = pgserver.get_server
    calls: list[Path] = []

    def slow_get_server(pgdata: Path, cleanup_mode: str) -> object:
        """The server comes up, but only after pg_ctl gave up waiting, as on a loaded machine."""
        server = real_get_server(pgdata, cleanup_mode=cleanup_mode)
        calls.append(pgdata)
        if len(calls) == 1:
            raise subprocess.TimeoutExpired("pg_ctl", 10)
        return server

    monkeypatch.setattr(pgserver, "get_server", slow_get_server)
    data_dir = tmp_path / ".hitl"
    with embedded_services(data_dir, redis=False) as services:
        assert len(calls) == 2
        assert answers_or_none(services.database_url) is None
    wait_no_engines(data_dir)


def test_a_failed_start_names_the_engine_and_its_log_and_stops_the_rest(
    tmp_path: Path, reaper: Reaper, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / ".hitl"
    monkeypatch.setattr(embedded._redis, "_redis_server_binary", lambda: Path("/bin/false"))
    with pytest.raises(errors.EmbeddedEngineError) as failure, embedded_services(data_dir):
        pass
    message = str(failure.value)
    assert "embedded redis" in message
    assert str(data_dir.resolve() / "redis" / "redis.log") in message
    assert engine_processes(data_dir) == []  # postgres, started first, was stopped again


def test_a_pgdata_from_an_interrupted_first_start_is_set_aside(
    tmp_path: Path, reaper: Reaper
) -> None:
    data_dir = tmp_path / ".hitl"
    (data_dir / "postgres").mkdir(parents=True)
    (data_dir / "postgres" / "PG_VERSION").write_text("16\n")  # initdb killed half-way
    with embedded_services(data_dir, redis=False) as services:
        with psycopg.connect(services.database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    [aside] = data_dir.glob("postgres.unfinished-*")
    assert (aside / "PG_VERSION").read_text() == "16\n"
    wait_no_engines(data_dir)


def test_a_data_dir_postgres_cannot_use_is_refused_clearly(tmp_path: Path, reaper: Reaper) -> None:
    data_dir = tmp_path / "My Projects" / ".hitl"
    with pytest.raises(errors.EmbeddedEngineError, match="spaces") as failure:
        with embedded_services(data_dir):
            pass
    assert str(data_dir / "postgres") in str(failure.value)
    assert engine_processes(tmp_path) == []
    with embedded_services(data_dir, postgres=False) as services:  # redis copes
        assert services.redis_url.startswith("unix://")
    assert engine_processes(tmp_path) == []
