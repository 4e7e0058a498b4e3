"""``hitl serve --reload`` picks up a changed graph module without a manual restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from hitl.launcher import ServiceProcess, base_env
from tests.support import auth

GRAPH = """
from langgraph.graph import START, StateGraph
from hitl import register_graph

def noop(state: dict) -> dict:
    return {}

def builder() -> StateGraph:
    g = StateGraph(dict)
    g.add_node("noop", noop)
    g.add_edge(START, "noop")
    return g

for name in NAMES:
    register_graph(name)(builder)
"""


def graph_names(server: ServiceProcess) -> list[str]:
    r = httpx.get(server.url + "/api/v1/graphs", timeout=10, headers=auth.BEARER)
    return [g["name"] for g in r.json()]


def test_reload_registers_a_graph_added_to_the_module(
    database_url: str, redis_url: str, bus_prefix: str, tmp_path: Path
) -> None:
    package = tmp_path / "mygraphs"
    package.mkdir()
    (package / "__init__.py").write_text("NAMES = ['first']\n" + GRAPH)
    env = {
        **base_env(),
        "HITL_DATABASE_URL": database_url,
        "HITL_REDIS_URL": redis_url,
        "HITL_BUS_PREFIX": bus_prefix,
        "HITL_GRAPHS": "mygraphs",
        "PYTHONPATH": str(tmp_path),
    }
    server = ServiceProcess(env, tmp_path / "server.log", cwd=tmp_path, args=["serve", "--reload"])
    try:
        server.start()
        server.wait_ready()
        assert graph_names(server) == ["first"]

        (package / "__init__.py").write_text("NAMES = ['first', 'second']\n" + GRAPH)
        deadline = time.monotonic() + 60
        names: list[str] = []
        while time.monotonic() < deadline:
            try:
                names = graph_names(server)
            except httpx.HTTPError:
                names = []  # restarting
            if names == ["first", "second"]:
                break
            time.sleep(0.3)
        assert names == ["first", "second"], server.log()
        # The restarted process logs its own lines too, in the one format (JSON: not a tty).
        lines = server.log().splitlines()
        logged = [json.loads(line) for line in lines if line.startswith("{")]
        assert len(logged) == len(lines) - 1, server.log()  # all but the banner's print
        said = [(e["logger"], e["message"]) for e in logged]
        assert ("hitl.service", "service ready: graphs first, second") in said, server.log()
    finally:
        server.terminate()


def test_reload_follows_a_langgraph_json_project(
    database_url: str, redis_url: str, bus_prefix: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    config = {"graphs": {"first": "./agent.py:graph"}}
    (project / "agent.py").write_text(
        "from langgraph.graph import START, StateGraph\n"
        "g = StateGraph(dict)\n"
        "g.add_node('noop', lambda state: {})\n"
        "g.add_edge(START, 'noop')\n"
        "graph = g.compile()\n"
    )
    (project / "langgraph.json").write_text(json.dumps(config))
    env = {
        **base_env(),
        "HITL_DATABASE_URL": database_url,
        "HITL_REDIS_URL": redis_url,
        "HITL_BUS_PREFIX": bus_prefix,
    }
    server = ServiceProcess(
        env,
        tmp_path / "server.log",
        cwd=project,
        args=["serve", "--reload", "--graphs", "langgraph.json"],
    )
    try:
        server.start()
        server.wait_ready()
        assert graph_names(server) == ["first"]

        config["graphs"]["second"] = "./agent.py:graph"  # the file itself changes
        (project / "langgraph.json").write_text(json.dumps(config))
        deadline = time.monotonic() + 60
        names: list[str] = []
        while time.monotonic() < deadline:
            try:
                names = graph_names(server)
            except httpx.HTTPError:
                names = []  # restarting
            if names == ["first", "second"]:
                break
            time.sleep(0.3)
        assert names == ["first", "second"], server.log()
    finally:
        server.terminate()


def test_reload_on_a_public_address_refuses_to_start_without_an_admin(
    database_url: str, redis_url: str, bus_prefix: str, tmp_path: Path
) -> None:
    # The restarted process reads --host from the environment: without it, it would think it
    # is on 127.0.0.1 and make an admin (printing its password) while reachable from anywhere.
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM hitl_users")
    env = {
        **base_env(),
        "HITL_DATABASE_URL": database_url,
        "HITL_REDIS_URL": redis_url,
        "HITL_BUS_PREFIX": bus_prefix,
    }
    server = ServiceProcess(
        env, tmp_path / "server.log", args=["serve", "--reload", "--host", "0.0.0.0"]
    )
    try:
        server.start()
        deadline = time.monotonic() + 60
        while "hitl: cannot start: no admin account exists" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        assert "Traceback" not in server.log(), server.log()
        assert "First start" not in server.log(), server.log()
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT count(*) FROM hitl_users").fetchone() == (0,)
    finally:
        server.terminate()
