"""Graphs declared in a LangGraph project's ``langgraph.json``, registered as they are.

A LangGraph project names its graphs in ``langgraph.json``; ``langgraph dev``, the Agent Server
and Aegra start from that file, and so can this service (``HITL_GRAPHS=langgraph.json``)::

    {
      "dependencies": ["."],
      "graphs": {"agent": "./src/agent/graph.py:graph"},
      "env": ".env",
      "hitl": {"graphs": {"agent": {"assignees": ["alice"], "timeout_seconds": 3600}}}
    }

It is read as LangGraph's tooling reads it: paths are relative to the file; ``dependencies``
that are folders go on the import path; ``env`` (a .env file or a mapping) is set in the
environment before any graph is imported, over what was there (as ``langgraph dev`` does), but
never a ``HITL_*`` variable (the service's settings are read before the file, not from it).
Each graph is a compiled graph, a ``StateGraph`` builder or a factory (see `hitl.registry`).
The ``hitl`` key is ours (LangGraph ignores it): a graph's request terms, as `register_graph`
takes them, so a LangGraph project needs no change to its code.

Everything is checked at start: a graph that cannot be loaded raises `GraphLoadError` naming
the graph, its path and the cause, and the service does not start.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from hitl import errors
from hitl.registry import GraphRegistry, load_modules

log = logging.getLogger("hitl.langgraph_json")

# The request terms a graph may be given under "hitl": {"graphs": {name: {...}}}.
TERMS = frozenset(
    {
        "description",
        "durability",
        "assignees",
        "groups",
        "timeout_seconds",
        "on_timeout",
        "reminders",
    }
)


class GraphLoadError(errors.CannotStart):
    """A graph named in ``HITL_GRAPHS`` could not be loaded; the service does not start."""


def is_config_file(entry: str) -> bool:
    """Whether an ``HITL_GRAPHS`` entry names a ``langgraph.json`` (else it is a module)."""
    return entry.endswith(".json")


def load_graphs(entries: Iterable[str], registry: GraphRegistry) -> None:
    """Load every ``HITL_GRAPHS`` entry: import a module (its `register_graph` calls fill the
    default registry), or register the graphs of a ``langgraph.json`` in ``registry``."""
    for entry in entries:
        if is_config_file(entry):
            load_file(Path(entry), registry)
        else:
            declared = {n: registry.get(n).source for n in registry.names()}
            try:
                load_modules([entry])
            except Exception as exc:
                raise GraphLoadError(
                    f"HITL_GRAPHS: importing module {entry!r} failed: {_cause(exc)}"
                ) from exc
            for name, source in declared.items():
                if source and registry.get(name).source != source:  # replaced by register_graph
                    raise GraphLoadError(
                        f"HITL_GRAPHS: module {entry!r} registers graph {name!r}, "
                        f"already declared as {source}"
                    )


def read_file(path: Path) -> dict[str, Any]:
    """The parsed ``langgraph.json`` at ``path``, checked for the keys we use."""
    path = path.resolve()
    if not path.is_file():
        raise GraphLoadError(f"HITL_GRAPHS: {path}: no such file")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GraphLoadError(f"{path}: not a readable JSON file: {exc}") from exc
    if not isinstance(config, dict):
        raise GraphLoadError(f"{path}: the file holds {type(config).__name__}, not an object")
    graphs = config.get("graphs")
    if not isinstance(graphs, dict) or not graphs:
        raise GraphLoadError(f"{path}: 'graphs' must map graph names to './file.py:variable'")
    deps = config.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise GraphLoadError(f"{path}: 'dependencies' must be a list of paths or packages")
    env = config.get("env")
    if env is not None and not isinstance(env, str | dict):
        raise GraphLoadError(f"{path}: 'env' must be a path to a .env file or a mapping")
    hitl = config.get("hitl", {})
    terms = hitl.get("graphs", {}) if isinstance(hitl, dict) else None
    if not isinstance(terms, dict):
        raise GraphLoadError(f"{path}: 'hitl' must be {{\"graphs\": {{name: terms}}}}")
    for name in terms:
        if name not in graphs:
            raise GraphLoadError(
                f"{path}: hitl.graphs.{name}: no graph {name!r} in 'graphs' "
                f"(the file declares {', '.join(sorted(graphs))})"
            )
    return config


def load_file(path: Path, registry: GraphRegistry) -> list[str]:
    """Register every graph of the ``langgraph.json`` at ``path``; their names."""
    path = path.resolve()
    config = read_file(path)
    root = path.parent
    _add_dependencies(root, config.get("dependencies", []))
    if config.get("env") is not None:
        apply_env(config["env"], root, path)
    terms = config.get("hitl", {}).get("graphs", {})
    names = []
    for name, declared in config["graphs"].items():
        where = _where(path, name, declared)
        value = _import(root, path, name, declared, where)
        _register(registry, name, value, terms.get(name, {}), where, declared)
        names.append(name)
    return names


def apply_env(env: str | Mapping[str, Any], root: Path, path: Path) -> None:
    """Set ``env`` (a .env file, relative to the langgraph.json, or a mapping) in the process
    environment, over what was there; ``HITL_*`` variables are left alone, with a warning."""
    if isinstance(env, str):
        file = (root / env).resolve()
        if not file.is_file():
            raise GraphLoadError(f"{path}: env: {file}: no such file")
        values: Mapping[str, Any] = dotenv_values(file)
    else:
        values = env
    for key, value in values.items():
        if key.upper().startswith("HITL_"):
            log.warning("%s: env: %s ignored (settings are not read from this file)", path, key)
        elif value is not None:
            os.environ[key] = str(value)


def _add_dependencies(root: Path, dependencies: list[str]) -> None:
    """Folders among ``dependencies`` go on the import path, as `langgraph dev` puts them;
    the others are packages to install, which is the deployment's business, not ours."""
    for dep in dependencies:
        folder = (root / dep).resolve()
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def _where(path: Path, name: str, declared: Any) -> str:
    spec = declared.get("path") if isinstance(declared, dict) else declared
    return f"graph {name!r} ({spec!r} in {path})"


def _import(root: Path, path: Path, name: str, declared: Any, where: str) -> Any:
    """The variable a graph's path names: ``./file.py:variable`` or ``package.module:variable``."""
    spec = declared.get("path") if isinstance(declared, dict) else declared
    if not isinstance(spec, str) or ":" not in spec:
        raise GraphLoadError(f"{where}: give it as './path/file.py:variable'")
    target, _, variable = spec.rpartition(":")
    if not target or not variable.isidentifier():
        raise GraphLoadError(f"{where}: give it as './path/file.py:variable'")
    if target.endswith((".ts", ".js", ".mts", ".mjs", ".cjs", ".tsx", ".jsx")):
        raise GraphLoadError(f"{where}: only Python graphs can be served here")
    try:
        if target.endswith(".py") or "/" in target or "\\" in target:
            module = _import_file((root / target).resolve(), where)
        else:
            module = importlib.import_module(target)
    except GraphLoadError:
        raise
    except Exception as exc:
        raise GraphLoadError(f"{where}: importing {target} failed: {_cause(exc)}") from exc
    if not hasattr(module, variable):
        raise GraphLoadError(f"{where}: {target} has no variable {variable!r}")
    return getattr(module, variable)


def _import_file(file: Path, where: str) -> Any:
    """Import a graph file once per process, under a name made from its path (so that loading
    the same file again, by the CLI's check and then by the service, reuses it)."""
    if not file.is_file():
        raise GraphLoadError(f"{where}: {file}: no such file")
    module_name = f"hitl_graph_{file.stem}_{hashlib.sha1(str(file).encode()).hexdigest()[:10]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise GraphLoadError(f"{where}: {file} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _register(
    registry: GraphRegistry,
    name: str,
    value: Any,
    terms: Any,
    where: str,
    declared: Any,
) -> None:
    if not isinstance(terms, dict):
        raise GraphLoadError(f"{where}: hitl.graphs.{name} must be an object of terms")
    unknown = sorted(set(terms) - TERMS)
    if unknown:
        raise GraphLoadError(
            f"{where}: hitl.graphs.{name}: unknown term {unknown[0]!r} "
            f"(known: {', '.join(sorted(TERMS))})"
        )
    for key in ("assignees", "groups", "reminders"):
        if key in terms and not isinstance(terms[key], list):
            raise GraphLoadError(f"{where}: hitl.graphs.{name}.{key} must be a list")
    timeout = terms.get("timeout_seconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
        raise GraphLoadError(f"{where}: hitl.graphs.{name}.timeout_seconds must be a number")
    durability = terms.get("durability", "async")
    if durability not in ("sync", "async", "exit"):
        raise GraphLoadError(
            f"{where}: hitl.graphs.{name}.durability: {durability!r} is not sync, async or exit"
        )
    if name in registry and registry.get(name).source not in ("", where):
        raise GraphLoadError(f"{where}: also declared as {registry.get(name).source}")
    if name in registry and registry.get(name).source == "":
        raise GraphLoadError(f"{where}: a graph {name!r} is already registered in code")
    description = terms.get("description")
    if description is None and isinstance(declared, dict):
        description = declared.get("description")
    if description is None:
        description = getattr(value, "__doc__", None) if callable(value) else None
    options: dict[str, Any] = {k: v for k, v in terms.items() if k not in ("description",)}
    options["durability"] = durability
    options["description"] = description if isinstance(description, str) else ""
    try:
        if isinstance(value, StateGraph | Pregel):
            registry.register(name, value, source=where, **options)
        elif callable(value) and not isinstance(value, type):
            registry.register(name, run_factory=value, source=where, **options)
        else:
            what = (
                f"the class {value.__name__}"
                if isinstance(value, type)
                else f"a value of type {type(value).__name__}"
            )
            raise GraphLoadError(
                f"{where}: {what} is not a compiled graph, a StateGraph or a factory function"
            )
    except ValueError as exc:
        raise GraphLoadError(f"{where}: {exc}") from None


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
