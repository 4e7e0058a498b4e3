"""The embedded Postgres: a pgserver cluster in ``<data_dir>/postgres`` on a unix socket, with
the settings and checks that let it survive a killed service and a reused pid (see
`hitl.embedded`)."""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import subprocess
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import psycopg

from hitl import errors
from hitl.embedded import _engine

_log = logging.getLogger("hitl.embedded")

# Written into pgdata once a first start completed: without it a pgdata is a killed initdb.
_INITIALIZED_MARKER = "hitl-initialized"
_PG_CONF_MARK = "# hitl embedded settings"
# hitl embedded settings"
# pgserver hands the socket folder (pgdata) to pg_ctl -o, which runs it through /bin/sh unquoted.
_SHELL_UNSAFE = re.compile(r"""[\s'"\\$`;&|<>()*?\[\]{}!]""")


class PostgresEngine(_engine.Engine):
    """A pgserver cluster in ``<root>/postgres``, reached through its unix socket."""

    kind = "postgres"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pgdata = root / "postgres"
        self.log = self.pgdata / "log"
        self._server: Any = None
        self._socket_dir: Path | None = None

    def start(self) -> None:
        if _SHELL_UNSAFE.search(str(self.pgdata)):
            raise errors.UnusableDataFolder(
                "postgres",
                f"cannot run in {self.pgdata}: pgserver breaks on paths with spaces, quotes or "
                "other shell characters; choose another data folder (HITL_DATA_DIR) or set "
                "HITL_DATABASE_URL",
            )
        pgserver = _import_pgserver()
        _settle_postmaster(self.pgdata, self.log)
        if not (self.pgdata / "postmaster.pid").exists():
            _set_aside_unfinished(self.pgdata)
        _configure_postgres(self.pgdata)
        with pgserver.PostgresServer._lock:  # the lock pgserver takes around its user list
            _prune_dead_pids(self.pgdata / ".handle_pids.json")
        for attempt in (1, 2):
            try:
                self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
                break
            except Exception as exc:  # pgserver raises CalledProcessError, AssertionError, ...
                pgserver.PostgresServer._instances.pop(self.pgdata, None)  # a broken handle
                if attempt == 1 and isinstance(exc, subprocess.TimeoutExpired):
                    # pgserver gives pg_ctl 10s; on a loaded machine the server may come up
                    # just after. Wait for it (or clear it away) and try once more.
                    _log.warning("pg_ctl timed out starting %s; trying again", self.pgdata)
                    _settle_postmaster(self.pgdata, self.log)
                    continue
                raise errors.EmbeddedEngineError(
                    "postgres", f"could not start a server in {self.pgdata} ({exc!r})", self.log
                ) from exc
        # pgserver registered its own atexit stop, which would run before ours (LIFO) without the
        # dead-user pruning and then drop this process from its list; ours is the one to run.
        atexit.unregister(getattr(self._server, "_cleanup", lambda: None))
        try:
            info = self._server.get_postmaster_info()
            if info.socket_dir is None:
                raise errors.EmbeddedEngineError("postgres", "server has no unix socket", self.log)
            self._socket_dir = Path(info.socket_dir)
            _make_socket_private(self.pgdata, self._socket_dir, int(info.port or 5432))
            _configure_postgres(self.pgdata)  # a first start only now has a postgresql.conf
            query = urlencode({"host": str(info.socket_dir), "port": info.port or 5432}, safe="/")
            self.url = f"postgresql://postgres@/postgres?{query}"
            _check_postgres(self.url, self.log)
        except BaseException:
            self.stop()
            raise
        (self.pgdata / _INITIALIZED_MARKER).touch()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        pgserver = _import_pgserver()
        with pgserver.PostgresServer._lock:
            _prune_dead_pids(self.pgdata / ".handle_pids.json")
        try:
            server.cleanup()  # stops the server unless another live process is listed as a user
        except Exception as exc:
            raise errors.EmbeddedEngineError(
                "postgres", f"could not stop the server in {self.pgdata} ({exc!r})", self.log
            ) from exc
        finally:
            # pgserver keeps the handle cached when others still use the server; a later start
            # in this process must register afresh rather than reuse it.
            pgserver.PostgresServer._instances.pop(self.pgdata, None)
        if self._socket_dir is not None and self._socket_dir != self.pgdata:
            with contextlib.suppress(OSError):  # pgserver's short socket folder, once empty
                self._socket_dir.rmdir()


_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def _import_pgserver() -> ModuleType:
    """Import pgserver quietly: it asks platformdirs for a runtime dir at import time.

    platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI, root shells) and falls
    back to /tmp/runtime-<uid>, which is fine for pgserver's lock file; under warnings-as-errors
    the warning would make the import fail. pgserver's own INFO logging is chatty (every pg_ctl
    call with its output), so it is raised to WARNING unless the application set a level.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
        import pgserver
    pg_logger = logging.getLogger("pgserver")
    if pg_logger.level == logging.NOTSET:
        pg_logger.setLevel(logging.WARNING)
    # When the data folder's path is too long for a unix socket, pgserver puts the socket under
    # its runtime dir, which platformdirs derives from TMPDIR: deep too, if TMPDIR is (tests,
    # notebooks run in a temporary folder). Keep it short, so that a socket always fits.
    server_class = pgserver.postgres_server.PostgresServer
    runtime: Path = server_class.runtime_path
    if len(str(runtime / "0123456789" / ".s.PGSQL.5432")) > _SOCKET_PATH_MAX:
        server_class.runtime_path = Path("/tmp") / f"runtime-{os.getuid()}" / runtime.name
    return pgserver


def _settle_postmaster(pgdata: Path, log: Path) -> None:
    """Leave ``postmaster.pid`` absent or naming a ready server running in this pgdata.

    pgserver trusts any live pid in that file, so a pid reused by an unrelated process (common
    after a container restart) would make it skip the start; postgres refuses to start over it
    too, and over an empty one left by a crash. So a file whose pid is not our server goes, once
    no postgres process works in this pgdata any more (backends of a killed server exit shortly
    after it). A server still starting or stopping, its owner killed mid-way, would trip
    pgserver's assertions, so wait for it.
    """
    pidfile = pgdata / "postmaster.pid"
    deadline = time.monotonic() + _engine.START_TIMEOUT
    while True:
        try:
            lines = pidfile.read_text().splitlines()
        except FileNotFoundError:
            return
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        if pid is not None and _engine.runs_in(pid, "postgres", pgdata):
            if len(lines) > 7 and lines[7].strip() == "ready":
                return
        elif not _engine.processes_in(pgdata, "postgres"):
            _log.warning("removing stale %s: pid %s is no postgres server of it", pidfile, pid)
            if len(lines) > 4 and lines[3].strip().isdigit() and lines[4].strip():
                # The socket's lock file names the same dead server, and postgres refuses it
                # while that pid exists, which it does as a zombie until its parent reaps it.
                Path(lines[4].strip(), f".s.PGSQL.{lines[3].strip()}.lock").unlink(missing_ok=True)
            pidfile.unlink(missing_ok=True)
            return
        if time.monotonic() > deadline:
            raise errors.EmbeddedEngineError(
                "postgres",
                f"{pidfile} (pid {pid}) did not settle in {_engine.START_TIMEOUT:.0f}s: a server "
                "is still starting or stopping, or processes of an old one are still running",
                log,
            )
        time.sleep(0.1)


def _set_aside_unfinished(pgdata: Path) -> None:
    """Move away a pgdata whose first start never completed (its creator killed in initdb).

    initdb refuses a non-empty folder and a half-written cluster cannot start, so the service
    would otherwise fail forever. Nothing is deleted: the folder is renamed, in case it matters.
    """
    if not pgdata.is_dir() or (pgdata / _INITIALIZED_MARKER).exists() or not any(pgdata.iterdir()):
        return
    aside = pgdata.with_name(f"postgres.unfinished-{time.strftime('%Y%m%d-%H%M%S')}")
    _log.warning("%s is from an interrupted first start; moving it to %s", pgdata, aside)
    pgdata.rename(aside)


def _configure_postgres(pgdata: Path) -> None:
    """Make the server create its socket owner-only: with trust auth, connecting is superuser."""
    conf = pgdata / "postgresql.conf"
    if not conf.exists() or _PG_CONF_MARK in conf.read_text():
        return
    with conf.open("a") as fh:
        fh.write(f"\n{_PG_CONF_MARK}\nunix_socket_permissions = 0700\n")


def _make_socket_private(pgdata: Path, socket_dir: Path, port: int) -> None:
    """Close a socket that pgserver put outside pgdata to everyone but its owner (and root).

    pgserver puts the socket in pgdata (mode 0700) unless that path is too long for a socket;
    then it uses a folder under its runtime dir, which it makes world-writable when running as
    root. The setting from `_configure_postgres` covers later starts; this covers the first.
    """
    if socket_dir.resolve() == pgdata.resolve():
        return
    with contextlib.suppress(FileNotFoundError):
        (socket_dir / f".s.PGSQL.{port}").chmod(0o700)
    if os.geteuid() == 0:  # the server runs as pgserver's own user, which must own the folder
        owner = pgdata.stat()
        os.chown(socket_dir, owner.st_uid, owner.st_gid)
    socket_dir.chmod(0o700)


def _check_postgres(url: str, log: Path) -> None:
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise errors.EmbeddedEngineError(
            "postgres", f"server is running but does not answer at {url} ({exc})", log
        ) from exc


def _prune_dead_pids(path: Path) -> None:
    """Drop dead processes from pgserver's user list (``.handle_pids.json``).

    pgserver stops the server only when the exiting process is the last one listed, so a user
    that was SIGKILLed would otherwise keep the server running for good.
    """
    try:
        pids = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if _engine.alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))
