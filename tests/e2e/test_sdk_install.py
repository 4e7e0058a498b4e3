"""The SDK installs and works alone: ``hitl-sdk`` (built from ``sdk/``) in a clean virtualenv
holding only it and its dependencies, none of the server's.

Offline: the SDK's wheel is built without build isolation, and its dependencies are packed into
wheels from this environment's own installed copies (their files as installed, listed by each
distribution's RECORD), so pip installs from a local folder with no index.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

SDK_PROJECT = ROOT / "sdk"
# Installer-written files: pip writes its own for the new environment.
NOT_PACKED = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}

CHECK = r"""
import asyncio, datetime, importlib.util, json, sys, time

import hitl.sdk
from standardwebhooks import Webhook

assert hitl.sdk.__file__.startswith(sys.prefix), hitl.sdk.__file__  # the installed copy

loaded = {name.split(".")[0] for name in sys.modules}
assert not loaded & {"psycopg", "langgraph", "fastapi", "redis", "pydantic"}, loaded
for server_only in ("psycopg", "langgraph", "fastapi", "hitl.registry"):
    assert importlib.util.find_spec(server_only) is None, server_only
assert issubclass(hitl.sdk.ConflictError, hitl.HITLError)

with hitl.sdk.SyncHITLClient("http://127.0.0.1:9/", api_key="k") as client:
    assert client.request_url("r 1") == "http://127.0.0.1:9/requests/r%201"

async def main() -> None:
    async with hitl.sdk.HITLClient("http://127.0.0.1:9", api_key="k") as client:
        assert client.base_url == "http://127.0.0.1:9"
    handled = []

    async def handler(payload, message):
        handled.append(payload)

    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    receiver = hitl.sdk.WebhookReceiver(
        secret, handler, store=hitl.sdk.SQLiteDedupeStore(sys.argv[1]), requests=None
    )
    body = json.dumps({"type": "thread.completed", "data": {}})
    now = int(time.time())
    signature = Webhook(secret).sign("m1", datetime.datetime.fromtimestamp(now), body)
    headers = {"webhook-id": "m1", "webhook-timestamp": str(now), "webhook-signature": signature}
    assert await receiver.receive(body.encode(), headers) == "handled"
    assert await receiver.receive(body.encode(), headers) == "duplicate"
    assert handled == [{"type": "thread.completed", "data": {}}]

asyncio.run(main())
print("ok")
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` need, transitively (no extras)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        if _canonical(requirement.name) in found:
            continue
        dist = metadata.distribution(requirement.name)
        found[_canonical(requirement.name)] = dist
        todo.extend(Requirement(r) for r in dist.requires or [])
    return list(found.values())


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _pack(dist: metadata.Distribution, folder: Path) -> Path:
    """A wheel of ``dist`` made from its installed files (compiled caches left out)."""
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    tag = next(
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    )
    wheel = folder / f"{name}-{dist.version}-{tag}.whl"
    files = [
        f
        for f in dist.files or []
        if f.parts[0] != ".." and "__pycache__" not in f.parts and f.name not in NOT_PACKED
    ]
    info_dir = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            data = Path(str(dist.locate_file(file))).read_bytes()
            archive.writestr(file.as_posix(), data)
            writer.writerow([file.as_posix(), _record_hash(data), len(data)])
        writer.writerow([f"{info_dir}/RECORD", "", ""])
        archive.writestr(f"{info_dir}/RECORD", record.getvalue())
    return wheel


def _run(*argv: str | Path, cwd: Path | None = None) -> str:
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(
        [str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a clean virtualenv with hitl-sdk and its dependencies installed."""
    folder = tmp_path_factory.mktemp("sdk-install")
    wheels = folder / "wheels"
    # built from a copy: setuptools leaves build/ behind, whose stale files a later build packs
    source = folder / "source"
    shutil.copytree(
        SDK_PROJECT, source / "sdk", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    shutil.copytree(ROOT / "hitl", source / "hitl", ignore=shutil.ignore_patterns("__pycache__"))
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--wheel-dir", wheels, source / "sdk")  # fmt: skip
    project = tomllib.loads((SDK_PROJECT / "pyproject.toml").read_text())["project"]
    for dist in _closure(project["dependencies"]):
        _pack(dist, wheels)
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(folder / "venv")
    python = folder / "venv" / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", wheels,
         "hitl-sdk")  # fmt: skip
    return python


def test_the_sdk_imports_and_works_with_only_its_own_dependencies(
    sdk_python: Path, tmp_path: Path
) -> None:
    # -I and a folder of its own: nothing of this repository on the path, only the venv's
    checked = _run(sdk_python, "-I", "-c", CHECK, tmp_path / "dedupe.db", cwd=tmp_path)
    assert checked.strip() == "ok"


def test_the_sdk_installs_only_the_client_dependencies(sdk_python: Path) -> None:
    installed = {
        _canonical(line.split("==")[0])
        for line in _run(sdk_python, "-m", "pip", "freeze", "--all").splitlines()
    }
    sdk = tomllib.loads((SDK_PROJECT / "pyproject.toml").read_text())["project"]
    expected = {_canonical(d.metadata["Name"]) for d in _closure(sdk["dependencies"])}
    assert installed - {"pip", "setuptools"} == expected | {"hitl-sdk"}
    main = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sdk["version"] == main["version"]
    assert _run(sdk_python, "-m", "pip", "check").startswith("No broken requirements")
