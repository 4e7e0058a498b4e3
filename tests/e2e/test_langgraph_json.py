"""A LangGraph project served as it is: ``HITL_GRAPHS`` names its ``langgraph.json``
(hitl/langgraph_json.py). The project (tests/support/langgraph_project) is written the way
LangGraph's documentation shows, with a compiled graph that keeps its compile options (its
own store, its name), a builder and a factory, next to a module using `register_graph`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hitl.launcher import ServiceProcess
from tests.conftest import ROOT
from tests.support.api import pending, respond, settle, start

PROJECT = ROOT / "tests" / "support" / "langgraph_project"
CONFIG = PROJECT / "langgraph.json"


async def _cycle(
    client: httpx.AsyncClient, graph: str, input: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start ``graph``, answer its one question with an approval: the request and the end."""
    thread_id = await start(client, graph, input)
    stopped = await settle(client, thread_id)
    assert stopped["status"] == "interrupted", stopped
    [request] = await pending(client, thread_id)
    r = await respond(client, request["id"], {"decision": "approve"})
    assert r.status_code == 200, r.text
    done = await settle(client, thread_id)
    assert done["status"] == "completed", done
    return request, done


async def test_a_langgraph_json_project_runs_without_a_change(
    make_server: Callable[..., ServiceProcess], http: Callable[[str], httpx.AsyncClient]
) -> None:
    relative = CONFIG.relative_to(ROOT)  # as an operator types it, from the project's folder
    server = make_server(HITL_GRAPHS=f"graphs,{relative}").start()
    server.wait_ready()
    client = http(server.url)

    listed = {g["name"]: g for g in (await client.get("/api/v1/graphs")).json()}
    assert {"code_review", "triage", "drafting", "per_user"} <= set(listed)  # both ways at once
    assert listed["triage"]["durability"] == "sync"  # from the file's "hitl" terms
    assert listed["triage"]["input_schema"]["properties"]["ticket"]["type"] == "string"
    assert listed["per_user"]["description"] == "A graph made for each run from its config."
    assert listed["per_user"]["input_schema"] is None  # a factory's graph is made per run

    # The compiled graph: the store it was compiled with is its own, and still there.
    request, done = await _cycle(client, "triage", {"ticket": "T-1"})
    assert request["assignees"] == ["admin"]
    assert _hours_to_deadline(request) == pytest.approx(1, abs=0.01)  # timeout_seconds: 3600
    assert done["values"] == {"ticket": "T-1", "noted": "T-1", "decision": "approve"}

    # The builder, compiled by the service; the file's env (a .env file) reached it.
    request, done = await _cycle(client, "drafting", {"topic": "tests"})
    assert request["assignees"] == []  # no terms in the file: the settings' defaults
    assert done["values"]["draft"] == "On tests, from the .env file"

    # The factory, called with the run's config (for the start and again for the answer).
    _, done = await _cycle(client, "per_user", {"request": "vpn"})
    assert done["values"]["made_for"] == done["thread_id"]


def _hours_to_deadline(request: dict[str, Any]) -> float:
    made, due = (datetime.fromisoformat(request[k]) for k in ("created_at", "deadline_at"))
    return (due - made).total_seconds() / 3600


def _project(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the project whose langgraph.json ``change`` edited."""
    copy = tmp_path / "project"
    shutil.copytree(PROJECT, copy)
    config = json.loads(CONFIG.read_text())
    change(config)
    (copy / "langgraph.json").write_text(json.dumps(config))
    return copy / "langgraph.json"


def _graph(path: str) -> Callable[[dict[str, Any]], None]:
    return lambda config: config["graphs"].update(triage=path)


def _terms(terms: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda config: config["hitl"]["graphs"].update(triage=terms)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_graph("./ticket_agents/missing.py:graph"), ["missing.py: no such file"]),
        (_graph("./ticket_agents/triage.py:grpah"), ["has no variable 'grpah'"]),
        (_graph("./ticket_agents/triage.py"), ["give it as './path/file.py:variable'"]),
        (
            _graph("./ticket_agents/approval.py:Approval"),
            ["the class Approval is not a compiled graph, a StateGraph or a factory"],
        ),
        (_terms({"timeout_seconds": -5}), ["timeout_seconds must be > 0"]),
        (_terms({"assignee": ["admin"]}), ["unknown term 'assignee'"]),
        (_terms({"durability": "never"}), ["durability: 'never' is not sync, async or exit"]),
    ],
    ids=[
        "bad-path",
        "missing-variable",
        "no-variable",
        "not-a-graph",
        "bad-timeout",
        "unknown-term",
        "bad-durability",
    ],
)
def test_a_graph_that_cannot_be_loaded_stops_the_start(
    make_server: Callable[..., ServiceProcess],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    words: list[str],
) -> None:
    config = _project(tmp_path, change)
    server = make_server(HITL_GRAPHS=f"graphs,{config}").start()
    assert server.wait_exit(60) != 0
    log = server.log()
    declared = json.loads(config.read_text())["graphs"]["triage"]
    assert f"graph 'triage' ({declared!r} in {config})" in log, log
    for word in words:
        assert word in log, log
    assert "Application startup" not in log  # refused before anything started


def test_a_missing_langgraph_json_stops_the_start(
    make_server: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "langgraph.json"
    server = make_server(HITL_GRAPHS=f"graphs,{missing}").start()
    assert server.wait_exit(60) != 0
    assert f"HITL_GRAPHS: {missing}: no such file" in server.log()
