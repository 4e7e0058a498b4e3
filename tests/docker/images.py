"""The images the Docker test runs, made on this machine without any image registry.

- the base the Dockerfile starts FROM (``python:3.11-slim-bookworm``): a Debian bookworm made by
  ``debootstrap --variant=minbase`` from the machine's configured Debian mirror, with Debian's
  Python 3.11, ``docker import``-ed under that name;
- stand-ins for the official ``postgres`` and ``redis`` images the Compose file names, from
  Debian's packages on that base (tests/docker/standins/);
- the service's image, from the project's wheels built here with ``pip wheel``, exactly as
  ``make image`` does.

Every image made here carries the label `LABEL`, and is removed at the end. A tag already taken
by an image without it (a real ``postgres:15-bookworm`` pulled on a developer's machine) stops
the test rather than being replaced and then deleted.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT

LABEL = "org.hitl.test-standin"
PYTHON_TAG = "python:3.11-slim-bookworm"  # the Dockerfile's FROM, with PYTHON=3.11
POSTGRES_TAG = "postgres:15-bookworm"  # the names compose.yaml uses
REDIS_TAG = "redis:7-bookworm"
STANDINS = Path(__file__).resolve().parent / "standins"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def run(*argv: str, timeout: float = 900, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command; its output is in the failure's message when it fails."""
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    if done.returncode != 0:
        output = f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}\n{output}")
    return done


def missing_prerequisites() -> str | None:
    """What this machine lacks to run the Docker test, in one line, or None."""
    import os

    if os.geteuid() != 0:
        return "the Docker test (tests/docker) runs as root: debootstrap and docker need it"
    for tool in ("docker", "debootstrap"):
        if shutil.which(tool) is None:
            return f"the Docker test needs {tool}: apt-get install docker.io debootstrap"
    if compose_command() is None:
        return "the Docker test needs Docker Compose: apt-get install docker-compose"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return (
            f"the Docker test needs a running dockerd (start it: dockerd &): {info.stderr.strip()}"
        )
    return None


def compose_command() -> list[str] | None:
    """``docker compose`` (v2) when the CLI has it, else Debian's ``docker-compose`` (v1)."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if v2.returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def debian_mirror() -> str:
    """The Debian mirror apt uses here (deb822 ``.sources`` files or ``sources.list``)."""
    candidates = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in candidates:
        text = path.read_text()
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
    lists = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]
    for path in lists:
        if path.is_file():
            found = re.search(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", path.read_text(), re.M)
            if found:
                return found.group(1)
    return DEFAULT_MIRROR


def _labelled(tag: str) -> bool | None:
    """Whether the image ``tag`` is one of ours (None: there is none)."""
    found = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        return None
    return LABEL in (json.loads(found.stdout) or {})


@dataclass
class Images:
    """The images made for one run, and how long each step took (seconds)."""

    workdir: Path
    app: str = f"hitl-test/hitl:{uuid.uuid4().hex[:8]}"
    timings: dict[str, float] = field(default_factory=dict)

    def build(self, rootfs_cache: Path | None = None) -> None:
        for tag in (PYTHON_TAG, POSTGRES_TAG, REDIS_TAG):
            if _labelled(tag) is False:
                raise AssertionError(
                    f"{tag} is a real image here: the Docker test would replace it with a "
                    f"stand-in and then delete it; remove it first (docker rmi {tag})"
                )
        tarball = rootfs_cache or self.workdir / "bookworm-minbase.tar"
        # the wheels (pip, the network) while debootstrap runs
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            wheels = pool.submit(self._timed, "wheels", self._wheels)
            base = pool.submit(self._timed, "base image", self._base, tarball)
            wheels.result()
            base.result()
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            jobs = [
                pool.submit(
                    self._timed, "postgres stand-in", self._standin, "postgres", POSTGRES_TAG
                ),
                pool.submit(self._timed, "redis stand-in", self._standin, "redis", REDIS_TAG),
                pool.submit(self._timed, "service image", self._app),
            ]
            for job in jobs:
                job.result()

    def _timed(self, name: str, step: object, *args: object) -> None:
        started = time.monotonic()
        step(*args)  # type: ignore[operator]
        self.timings[name] = round(time.monotonic() - started, 1)

    def _base(self, tarball: Path) -> None:
        if not tarball.is_file():
            rootfs = Path(tempfile.mkdtemp(dir=self.workdir, prefix="rootfs-"))
            try:
                run(
                    "debootstrap",
                    "--variant=minbase",
                    "--include=python3,python3-venv",
                    SUITE,
                    str(rootfs),
                    debian_mirror(),
                    timeout=900,
                )
                for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
                    for entry in (rootfs / cache).glob("*"):
                        if entry.is_file():
                            entry.unlink()
                partial = tarball.with_suffix(".partial")
                run("tar", "-C", str(rootfs), "-cf", str(partial), ".")
                partial.rename(tarball)
            finally:
                shutil.rmtree(rootfs, ignore_errors=True)
        run(
            "docker",
            "import",
            "--change",
            f"LABEL {LABEL}=1",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            'CMD ["python3"]',
            str(tarball),
            PYTHON_TAG,
        )

    def _standin(self, name: str, tag: str) -> None:
        run(
            "docker",
            "build",
            "--force-rm",
            "--network",
            "host",
            "--build-arg",
            f"BASE={PYTHON_TAG}",
            "-t",
            tag,
            str(STANDINS / name),
        )

    def _wheels(self) -> None:
        # As `make image` does. async-timeout: redis needs it on a Python below 3.11.3, and the
        # stand-in base has Debian's 3.11.2 while this interpreter may be newer.
        wheels = self.workdir / "context" / "build" / "wheels"
        run(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "-w",
            str(wheels),
            str(ROOT),
            "async-timeout",
        )

    def _app(self) -> None:
        run(
            "docker",
            "build",
            "--force-rm",
            "--network",
            "none",  # the build reaches nothing: everything is in the wheels
            "--build-arg",
            "PYTHON=3.11",
            "-f",
            str(ROOT / "Dockerfile"),
            "-t",
            self.app,
            str(self.workdir / "context"),
        )

    def size(self, tag: str) -> int:
        return int(run("docker", "image", "inspect", "-f", "{{.Size}}", tag).stdout)

    def remove(self) -> None:
        """Every image made here, and the build stages the builds left untagged."""
        for tag in (self.app, POSTGRES_TAG, REDIS_TAG, PYTHON_TAG):
            if _labelled(tag):
                subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
        subprocess.run(
            ["docker", "image", "prune", "-f", "--filter", f"label={LABEL}"],
            capture_output=True,
            check=False,
        )
