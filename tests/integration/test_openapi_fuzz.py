"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

The service runs as a real process on a fresh database; every operation gets a bounded number
of generated requests, valid and invalid ones (derandomized, so a run is repeatable), sent
with the admin API key. Every answer must be below 500, have a documented status, and match
the documented schema and content type.

Random ids only ever reach "not found", so a third pass puts the ids of real objects (a thread
waiting on a request, an external request, a webhook endpoint, a user, an API key) into the
path, and generated thread starts name a real graph half the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hitl.launcher import ServiceProcess, base_env
from tests.conftest import ROOT
from tests.support import auth
from tests.support.api import GRAPH_MODULES

EXAMPLES = 25  # per operation and mode: ~33 operations x 2 modes, well under a minute
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


@pytest.fixture
def server(
    database_url: str, redis_url: str, bus_prefix: str, tmp_path: Path
) -> Iterator[ServiceProcess]:
    process = ServiceProcess(
        {
            **base_env(),
            "HITL_DATABASE_URL": database_url,
            "HITL_REDIS_URL": redis_url,
            "HITL_BUS_PREFIX": bus_prefix,
            "HITL_GRAPHS": GRAPH_MODULES,
            "HITL_POLL_INTERVAL": "0.2",
            # generated webhook URLs must not leave this machine
            "HITL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        },
        tmp_path / "server.log",
        cwd=ROOT,
    ).start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.kill()


def _seed(url: str) -> dict[str, str]:
    """Real objects to aim at, by the name of the path parameter that takes their id."""
    with httpx.Client(base_url=url, headers=auth.BEARER, timeout=60) as http:
        r = http.post(
            "/api/v1/threads", json={"graph": "approval", "input": {}}, params={"wait": 30}
        )
        assert r.status_code == 200, r.text
        thread = r.json()
        hook = "http://127.0.0.1:9/fuzz-callback"
        r = http.post("/api/v1/webhooks", json={"url": hook, "events": ["*"]})
        assert r.status_code == 201, r.text
        endpoint_id = r.json()["id"]
        external = {
            "workflow_id": "fuzz",
            "callback_webhook": hook,
            "context": {"q": "ok?"},
            "response_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
        }
        r = http.post("/api/v1/requests", json=external)
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/users", json={"username": "fuzzed", "password": "fuzzed-pass-1"})
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/apikeys", json={"name": "fuzzed", "scopes": ["threads:read"]})
        assert r.status_code == 201, r.text
        prefix = r.json()["prefix"]
    return {
        "thread_id": thread["thread_id"],
        "request_id": thread["interrupts"][0]["request_id"],
        "endpoint_id": endpoint_id,
        "username": "fuzzed",
        "prefix": prefix,
    }


def _with_real_graph(pair: tuple[schemathesis.Case, bool]) -> schemathesis.Case:
    case, real = pair
    if real and isinstance(case.body, dict) and "graph" in case.body:
        case.body["graph"] = "approval"
    return case


def _fuzz(
    operation: Any,
    mode: schemathesis.GenerationMode,
    url: str,
    session: requests.Session,
    path_parameters: dict[str, str] | None = None,
) -> str | None:
    """The first failure of ``operation`` in ``mode``, or ``None``."""
    cases = st.tuples(
        operation.as_strategy(generation_mode=mode, path_parameters=path_parameters),
        st.booleans(),
    ).map(_with_real_graph)

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=cases)
    def run(case: schemathesis.Case) -> None:
        # a long poll on a generated thread would only wait: keep waits short
        if case.query and "wait" in case.query:
            case.query["wait"] = 0
        if case.query and "timeout" in case.query:
            case.query["timeout"] = 0
        if operation.path.endswith("/wait"):
            # left out, the timeout is its default (30 s): a pending request would wait it out
            case.query = {**(case.query or {}), "timeout": 0}
        if operation.path.endswith(SSE_PATHS):
            # an event stream may stay open as long as its thread lives: its answer is the
            # status and the headers, read without waiting for the end
            response = case.call(
                base_url=url, session=session, headers=auth.BEARER, timeout=30, stream=True
            )
            assert response.status_code < 500, response.status_code
            content_type = str(response.headers.get("content-type", ""))
            if response.status_code == 200:
                assert "text/event-stream" in content_type, content_type
            else:
                assert "application/json" in content_type, content_type
            return
        response = case.call(base_url=url, session=session, headers=auth.BEARER, timeout=30)
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return None  # nothing to make invalid (no parameters, no body)
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports a group of failures
        aimed = " at real objects" if path_parameters else ""
        # a group (schemathesis, or Hypothesis's "unreliable results") names its causes
        causes = "".join(f"\n  - {c!r}" for c in getattr(exc, "exceptions", ()))
        return f"{operation.method.upper()} {operation.path} ({mode}{aimed}): {exc}{causes}"
    return None


# Operations that answer Server-Sent Events (hitl/agent_server/streams.py, thread_streams.py).
SSE_PATHS = ("/stream", "/stream/events")


def test_every_operation_survives_generated_requests(server: ServiceProcess) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json", headers=auth.BEARER)
    real = _seed(server.url)
    positive, negative = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
    failures = []
    with requests.Session() as session:
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 20  # the whole API, not an empty document
        # reads first, then writes, deletions last: the real objects stay for most of the run
        order = {"GET": 0, "DELETE": 2}
        operations.sort(key=lambda op: order.get(op.method.upper(), 1))
        for operation in operations:
            names = [p.name for p in operation.path_parameters]
            runs: list[tuple[schemathesis.GenerationMode, dict[str, str] | None]] = [
                (positive, None),
                (negative, None),
            ]
            # (not an event stream at a real thread: it stays open while the thread lives)
            if (
                names
                and all(name in real for name in names)
                and not operation.path.endswith(SSE_PATHS)
            ):
                runs.append((positive, {name: real[name] for name in names}))
            for mode, aimed in runs:
                failure = _fuzz(operation, mode, server.url, session, aimed)
                if failure:
                    failures.append(failure)
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + server.log()[-5000:]
