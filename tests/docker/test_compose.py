"""The image and the Compose stack, as an operator runs them: first admin, a code review through
its interrupts, workers scaled up, one killed mid-run and one stopped mid-run, nothing lost.

Runs with ``make test-docker`` (root, dockerd, debootstrap, Docker Compose; CI installs them),
not in ``make test``. The stack runs on the host's network only (compose.host-network.yaml):
every service on 127.0.0.1 with a free port of its own. Everything made is removed at the end,
images included. ``HITL_TEST_DEBOOTSTRAP_CACHE=/path/bookworm.tar`` keeps the debootstrapped
base between runs (it is made once per run otherwise).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from tests.conftest import ROOT
from tests.docker.images import PYTHON_TAG, Images, compose_command, run

pytestmark = [pytest.mark.docker, pytest.mark.timeout(2400)]

HOST_NETWORK = Path(__file__).resolve().parent / "compose.host-network.yaml"
SLOW_TESTS = 5  # seconds the "slow" test profile runs: long enough to be caught mid-run
# Leases outlast the 10 s a stopping worker gives its runs (it renews none meanwhile).
LEASE_SECONDS = 20


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in (5432, 6379, 8000):
            return port


class Stack:
    """One Compose project of compose.yaml with the host-network override."""

    def __init__(self, images: Images, workdir: Path) -> None:
        self.project = f"hitltest{secrets.token_hex(4)}"
        self.api_port = free_port()
        env_file = workdir / "stack.env"
        env_file.write_text(
            "POSTGRES_PASSWORD=" + secrets.token_hex(12) + "\n"
            "REDIS_PASSWORD=" + secrets.token_hex(12) + "\n"
            f"HITL_RUN_LEASE_SECONDS={LEASE_SECONDS}\n"
            f"HITL_TEST_PROFILES={json.dumps({'slow': {'argv': ['sleep', str(SLOW_TESTS)]}})}\n"
        )
        secrets_ = dict(line.split("=", 1) for line in env_file.read_text().splitlines()[:2])
        self.env = {
            **os.environ,
            **secrets_,
            "HITL_ENV_FILE": str(env_file),
            "HITL_IMAGE": images.app,
            "HITL_TEST_POSTGRES_PORT": str(free_port()),
            "HITL_TEST_REDIS_PORT": str(free_port()),
            "HITL_TEST_API_PORT": str(self.api_port),
        }
        command = compose_command()
        assert command is not None
        self.command = [
            *command,
            "-p",
            self.project,
            "-f",
            str(ROOT / "compose.yaml"),
            "-f",
            str(HOST_NETWORK),
        ]
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.admin_password = ""
        self.key = ""

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run(*self.command, *args, timeout=timeout, env=self.env, cwd=ROOT)

    def containers(self, service: str, *, running: bool = True) -> list[str]:
        ids = self.compose("ps", "-q", service).stdout.split()
        if not running:
            return ids
        return [i for i in ids if _inspect(i, "{{.State.Running}}") == "true"]

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                logs = self.compose("logs", "--tail", "40", "api").stdout
                raise AssertionError(f"the API is not ready at {self.url}/readyz:\n{logs}")
            time.sleep(1)

    def attempts(self, thread_id: str) -> list[int]:
        """The attempts of the thread's runs, oldest first (from the stack's Postgres)."""
        url = (
            f"postgresql://hitl:{self.env['POSTGRES_PASSWORD']}@127.0.0.1:"
            f"{self.env['HITL_TEST_POSTGRES_PORT']}/hitl"
        )
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT attempts FROM hitl_runs WHERE thread_id = %s ORDER BY id", (thread_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def down(self) -> None:
        subprocess.run(
            [*self.command, "down", "--volumes", "--remove-orphans", "--timeout", "5"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            check=False,
        )


def _inspect(container: str, template: str) -> str:
    return run("docker", "inspect", "-f", template, container).stdout.strip()


def wait_for(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)
    return found


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    made = Images(tmp_path_factory.mktemp("docker"))
    started = time.monotonic()
    try:
        cache = os.environ.get("HITL_TEST_DEBOOTSTRAP_CACHE")
        made.build(Path(cache) if cache else None)
        made.timings["all images"] = round(time.monotonic() - started, 1)
        print(f"\nimages built in {made.timings} s")
        app, base = made.size(made.app) / 1e6, made.size(PYTHON_TAG) / 1e6
        print(f"service image: {app:.0f} MB, of which the stand-in {PYTHON_TAG} {base:.0f} MB")
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="module")
def stack(images: Images, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack started as docs/deploy.md says: first admin, then up (one worker)."""
    started = Stack(images, tmp_path_factory.mktemp("stack"))
    try:
        created = started.compose(
            "run", "--rm", "api", "hitl", "user", "create", "admin", "--role", "admin"
        )
        assert "password: " in created.stdout, created.stdout
        started.admin_password = created.stdout.split("password: ", 1)[1].split()[0]
        key = started.compose(
            "run", "--rm", "api", "hitl", "apikey", "create", "--name", "tests", "--scopes", "*"
        )
        started.key = key.stdout.strip().splitlines()[-1]
        started.compose("up", "-d", "--scale", "worker=1")
        started.wait_ready()
        yield started
    finally:
        started.down()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.url, timeout=120, headers={"Authorization": f"Bearer {stack.key}"}
    ) as client:
        yield client


def start(api: httpx.Client, input: dict[str, Any]) -> str:
    r = api.post("/api/v1/threads", json={"graph": "code_review", "input": input})
    assert r.status_code == 202, r.text
    return str(r.json()["thread_id"])


def settle(api: httpx.Client, thread_id: str, status: str) -> dict[str, Any]:
    """The thread once at rest, which must be ``status``."""
    deadline = time.monotonic() + 180
    while True:
        r = api.get(f"/api/v1/threads/{thread_id}/wait", params={"timeout": 30})
        assert r.status_code == 200, r.text
        thread: dict[str, Any] = r.json()
        if thread["status"] in ("interrupted", "completed", "failed"):
            assert thread["status"] == status, thread
            return thread
        assert time.monotonic() < deadline, thread


def answer(api: httpx.Client, thread_id: str, decision: str = "approve") -> str:
    """Answer the thread's one pending request; returns its kind (from the value)."""
    r = api.get("/api/v1/requests", params={"thread_id": thread_id, "state": "pending"})
    assert r.status_code == 200, r.text
    [request] = r.json()["items"]
    r = api.post(
        f"/api/v1/requests/{request['id']}/respond",
        json={"response": {"decision": decision, "comment": "from the Docker test"}},
    )
    assert r.status_code == 200, r.text
    return str(request["value"].get("kind"))


def holding_tests(containers: list[str]) -> list[str]:
    """The containers running the slow test profile now: they hold a run mid-way."""
    return [c for c in containers if f"sleep {SLOW_TESTS}" in run("docker", "top", c).stdout]


def test_the_default_stack_needs_its_secrets(tmp_path: Path) -> None:
    """compose.yaml with compose.override.yaml, as `docker compose up` reads them (checked, not
    started: its containers would talk over a private network)."""
    command = compose_command()
    assert command is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "REDIS_"))}
    argv = [*command, "--project-directory", str(tmp_path)]
    for name in ("compose.yaml", "compose.override.yaml"):
        argv += ["-f", str(ROOT / name)]
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    refused = subprocess.run([*argv, "config"], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "set POSTGRES_PASSWORD in .env" in refused.stderr

    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=pg-secret\nREDIS_PASSWORD=redis-secret\n")
    config = yaml.safe_load(run(*argv, "config", env=env).stdout)
    services = config["services"]
    assert services.keys() == {"postgres", "redis", "migrate", "api", "worker"}
    assert services["api"]["environment"]["HITL_DATABASE_URL"] == (
        "postgresql://hitl:pg-secret@postgres:5432/hitl"
    )
    assert services["worker"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert "8000" in str(services["api"]["ports"])


def test_the_first_admin_signs_in(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url) as browser:
        browser.get("/login")
        form = {
            "username": "admin",
            "password": stack.admin_password,
            "_csrf": browser.cookies.get("hitl_login_csrf"),
            "next": "/",
        }
        r = browser.post("/login", data=form)
        assert r.status_code == 303, r.text
        me = browser.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["name"] == "admin", me.text


def test_a_code_review_through_both_interrupts(stack: Stack, api: httpx.Client) -> None:
    thread_id = start(api, {"diff": HIGH_RISK_DIFF})
    settle(api, thread_id, "interrupted")
    assert answer(api, thread_id) == "code_review"
    settle(api, thread_id, "interrupted")
    assert answer(api, thread_id) == "deploy_approval"
    thread = settle(api, thread_id, "completed")
    assert thread["values"]["outcome"] == "deployed"

    # the service's log lines, on stderr, are JSON objects, one a line
    [container] = stack.containers("api")
    logs = run("docker", "logs", container).stderr.splitlines()
    assert logs
    for line in logs:
        assert {"ts", "level", "message"} <= json.loads(line).keys(), line


def test_a_worker_killed_mid_run_loses_nothing(stack: Stack, api: httpx.Client) -> None:
    stack.compose("up", "-d", "--no-recreate", "--scale", "worker=2")
    workers = wait_for(
        "two workers", lambda: len(stack.containers("worker")) == 2 and stack.containers("worker")
    )
    for worker in workers:
        wait_for(
            f"worker {worker} to run graph runs",
            lambda w=worker: "running graph runs" in run("docker", "logs", w).stdout,
        )
    threads = [start(api, {"diff": LOW_RISK_DIFF, "test_profile": "slow"}) for _ in range(6)]
    [victim, *_] = wait_for("a worker running tests", lambda: holding_tests(workers))
    run("docker", "kill", victim)

    for thread_id in threads:  # the runs the killed worker held are taken over
        thread = settle(api, thread_id, "interrupted")
        assert thread["values"]["tests"]["passed"] is True, thread["values"]["tests"]
        assert answer(api, thread_id) == "deploy_approval"
    for thread_id in threads:
        assert settle(api, thread_id, "completed")["values"]["outcome"] == "deployed"
        r = api.get("/api/v1/requests", params={"thread_id": thread_id})
        assert [q["state"] for q in r.json()["items"]] == ["resumed"]
    # the kill did hit held runs: some start runs took a second attempt
    assert any(stack.attempts(t)[0] == 2 for t in threads)


def test_a_worker_stopped_mid_run_finishes_it_first(stack: Stack, api: httpx.Client) -> None:
    stack.compose("up", "-d", "--no-recreate", "--scale", "worker=2")
    workers = wait_for(
        "two workers", lambda: len(stack.containers("worker")) == 2 and stack.containers("worker")
    )
    for worker in workers:
        wait_for(
            f"worker {worker} to run graph runs",
            lambda w=worker: "running graph runs" in run("docker", "logs", w).stdout,
        )
    thread_id = start(api, {"diff": LOW_RISK_DIFF, "test_profile": "slow"})
    [holder] = wait_for("a worker running tests", lambda: holding_tests(workers))
    run("docker", "stop", "--time", "60", holder)  # SIGTERM; returns once the container exits

    assert _inspect(holder, "{{.State.ExitCode}}") == "0"
    logs = run("docker", "logs", holder).stderr
    assert "finishing the held ones" in logs and '"stopped"' in logs, logs[-2000:]
    thread = settle(api, thread_id, "interrupted")
    assert thread["values"]["tests"]["passed"] is True
    # it finished the run itself: one attempt, no takeover
    assert stack.attempts(thread_id) == [1]
