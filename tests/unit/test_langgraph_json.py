"""Graphs from a langgraph.json and the three kinds of graph (hitl/langgraph_json.py,
hitl/registry.py): what is kept of a compiled graph, how factories are called, how ``env``
and ``dependencies`` apply, and the start-up errors."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.store.memory import InMemoryStore
from typing_extensions import TypedDict

from hitl import langgraph_json
from hitl.langgraph_json import GraphLoadError
from hitl.registry import GraphRegistry, ServedGraphs


class State(TypedDict, total=False):
    n: int


def _builder() -> StateGraph[Any]:
    g: StateGraph[Any] = StateGraph(State)
    g.add_node("a", lambda s: {"n": s["n"] + 1})
    g.add_node("b", lambda s: {"n": s["n"] * 10})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader changes sys.path and os.environ: give each test its own."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(os, "environ", dict(os.environ))


async def test_a_compiled_graph_keeps_its_compile_options_and_gets_our_checkpointer() -> None:
    store = InMemoryStore()
    compiled = _builder().compile(interrupt_before=["b"], name="counter", store=store)
    registry = GraphRegistry()
    registry.register("count", compiled)
    registry.register("unnamed", _builder().compile())
    saver = InMemorySaver()
    served = ServedGraphs(registry, saver)

    graph = served["count"]
    assert graph.checkpointer is saver and graph.store is store
    assert graph.interrupt_before_nodes == ["b"] and graph.name == "counter"
    assert compiled.checkpointer is None  # the author's object is left as it was
    assert served["unnamed"].name == "unnamed"  # LangGraph's default name: the registration's
    assert await graph.ainvoke({"n": 1}, _config("t")) == {"n": 2}  # stopped before b
    assert (await graph.aget_state(_config("t"))).next == ("b",)
    assert registry.get("count").builder is compiled.builder  # its input schema is known
    assert registry.get("count").input_adapter is not None


async def test_factories_are_called_for_every_run_as_the_agent_server_calls_them() -> None:
    calls: list[Any] = []

    def with_config(config: RunnableConfig) -> Any:
        calls.append(config["configurable"]["thread_id"])
        config["configurable"]["thread_id"] = "changed"  # a copy: the run's stays
        return _builder()  # a builder: compiled with our checkpointer

    def without_config() -> Any:
        calls.append("none")
        return _builder().compile()

    async def asynchronous(config: RunnableConfig) -> Any:
        calls.append("async")
        return _builder().compile()

    @contextlib.asynccontextmanager
    async def held(config: RunnableConfig) -> AsyncIterator[Any]:
        calls.append("open")
        yield _builder().compile()
        calls.append("closed")

    registry = GraphRegistry()
    for name, factory in [
        ("cfg", with_config),
        ("none", without_config),
        ("aio", asynchronous),
        ("held", held),
    ]:
        registry.register(name, run_factory=factory)
    saver = InMemorySaver()
    served = ServedGraphs(registry, saver)
    assert list(served) == []  # nothing made before a run
    for name in ("cfg", "none", "aio", "held"):
        config = _config(name)
        async with served.for_run(name, config) as graph:
            assert graph is not None and graph.checkpointer is saver
            assert await graph.ainvoke({"n": 1}, config) == {"n": 20}
            assert config["configurable"]["thread_id"] == name
    assert calls == ["cfg", "none", "async", "open", "closed"]
    async with served.for_run("unknown", _config("x")) as graph:
        assert graph is None
    with pytest.raises(ValueError, match=r"one argument .* not \(config, other\)"):
        registry.register("two", run_factory=lambda config, other: None)
    with pytest.raises(ValueError, match="give a builder or a run_factory"):
        registry.register("neither")


def _write(tmp_path: Path, config: dict[str, Any], files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(config))
    return path


GRAPH_FILE = """
import os
from typing_extensions import TypedDict
from langgraph.graph import START, StateGraph
from helpers import suffix

LOADS = globals().setdefault("LOADS", [])
LOADS.append(1)

class State(TypedDict, total=False):
    text: str

def say(state):
    return {"text": state["text"] + os.environ["LG_WORD"] + suffix()}

builder = StateGraph(State)
builder.add_node("say", say)
builder.add_edge(START, "say")
graph = builder.compile()
NOT_A_GRAPH = 42
"""


def _project(tmp_path: Path, **config: Any) -> Path:
    return _write(
        tmp_path,
        {"dependencies": ["./lib"], "graphs": {"hello": "./agent.py:graph"}, **config},
        {
            "agent.py": GRAPH_FILE,
            "lib/helpers.py": "def suffix():\n    return '!'\n",
            ".env": "LG_WORD=world\nHITL_PORT=1\n",
        },
    )


async def test_env_dependencies_and_terms_apply_as_declared(tmp_path: Path) -> None:
    os.environ["LG_WORD"] = "overridden"  # the file's env is set over it, as `langgraph dev` does
    os.environ.pop("HITL_PORT", None)
    path = _project(tmp_path, env=".env", hitl={"graphs": {"hello": {"groups": ["ops"]}}})
    registry = GraphRegistry()
    assert langgraph_json.load_file(path, registry) == ["hello"]
    assert os.environ["LG_WORD"] == "world" and "HITL_PORT" not in os.environ
    assert registry.get("hello").groups == ("ops",)
    graph = ServedGraphs(registry, InMemorySaver())["hello"]
    assert await graph.ainvoke({"text": "hello "}, _config("t")) == {"text": "hello world!"}

    langgraph_json.load_file(path, registry)  # again (the CLI checks, then the service loads)
    [module] = [m for name, m in sys.modules.items() if name.startswith("hitl_graph_agent_")]
    assert module.LOADS == [1]  # imported once

    other = GraphRegistry()
    langgraph_json.load_file(_project(tmp_path, env={"LG_WORD": "mapping"}), other)
    assert os.environ["LG_WORD"] == "mapping"


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"env": "missing.env"}, "env: .*missing.env: no such file"),
        ({"graphs": {}}, "'graphs' must map graph names"),
        (
            {"graphs": {"hello": "./agent.py:NOT_A_GRAPH"}},
            "graph 'hello' .*: a value of type int is not a",
        ),
        ({"graphs": {"hello": "./ui.tsx:graph"}}, "only Python graphs"),
        ({"graphs": {"hello": "no_such_package.agent:graph"}}, "importing no_such_package.agent"),
        ({"graphs": {"bad name": "./agent.py:graph"}}, "use letters, digits"),
        ({"hitl": {"graphs": {"other": {}}}}, "hitl.graphs.other: no graph 'other'"),
        ({"hitl": {"graphs": {"hello": {"assignees": "admin"}}}}, "assignees must be a list"),
        ({"hitl": {"graphs": {"hello": {"assignees": ["two words"]}}}}, "assignees.0"),
        ({"hitl": {"graphs": {"hello": {"reminders": [2]}}}}, "reminders"),
    ],
)
def test_bad_declarations_are_refused_naming_the_graph_and_the_cause(
    tmp_path: Path, config: dict[str, Any], words: str
) -> None:
    path = _project(tmp_path, **config)
    registry = GraphRegistry()
    with pytest.raises(GraphLoadError, match=words):
        langgraph_json.load_file(path, registry)


def test_a_failing_import_and_a_name_taken_in_code_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"graphs": {"boom": "./boom.py:graph"}},
        {"boom.py": "raise RuntimeError('no API key')\n"},
    )
    with pytest.raises(GraphLoadError) as raised:
        langgraph_json.load_file(path, GraphRegistry())
    assert str(raised.value.detail) == (
        f"graph 'boom' ('./boom.py:graph' in {path}): importing ./boom.py failed: "
        "RuntimeError: no API key"
    )
    registry = GraphRegistry()
    registry.register("hello", _builder)
    with pytest.raises(GraphLoadError, match="'hello' is already registered in code"):
        langgraph_json.load_file(_project(tmp_path / "p"), registry)
    with pytest.raises(GraphLoadError, match="not a readable JSON file"):
        (tmp_path / "broken.json").write_text("{")
        langgraph_json.load_graphs([str(tmp_path / "broken.json")], registry)
    with pytest.raises(GraphLoadError, match="importing module 'no_such_graphs' failed"):
        langgraph_json.load_graphs(["no_such_graphs"], registry)


def test_a_module_may_not_take_a_name_a_langgraph_json_declared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = GraphRegistry()
    langgraph_json.load_graphs([str(_project(tmp_path))], registry)
    # a module registering "hello" in code (into this registry, standing for the default one)
    hook = types.SimpleNamespace(registry=registry, builder=_builder)
    monkeypatch.setitem(sys.modules, "lgjson_hook", hook)  # type: ignore[arg-type]
    (tmp_path / "lib" / "takes_hello.py").write_text(
        "import lgjson_hook\nlgjson_hook.registry.register('hello', lgjson_hook.builder)\n"
    )
    with pytest.raises(GraphLoadError, match="module 'takes_hello' registers graph 'hello', alr"):
        langgraph_json.load_graphs(["takes_hello"], registry)
