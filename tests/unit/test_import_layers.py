"""Imports flow one way through `hitl`: entry points -> HTTP -> service -> domain ->
infrastructure -> base. A new cycle, an import that points upward, or a new import inside a
function fails here, so the house keeps its direction as it grows.

Read from the source with `ast` (nothing is imported). Imports under ``if TYPE_CHECKING:``
count for the layers (a type names a dependency too) but not for cycles (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "hitl"

# Top to bottom. A module may import its own layer and the layers below it. The longest prefix
# names a module's layer, so ``hitl.auth.principal`` can sit lower than the rest of ``hitl.auth``.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "entry points",
        (
            "hitl",  # the package root declares the public API
            "hitl.cli",
            "hitl.auth.commands",  # `hitl user` / `hitl apikey`
            "hitl.api.app",
            "hitl.agents",  # agent processes: `hitl agent`
            "hitl.launcher",
        ),
    ),
    ("HTTP", ("hitl.api", "hitl.ui", "hitl.agent_server", "hitl.mcp_server")),
    ("service wiring", ("hitl.service",)),
    (
        "domain",
        (
            "hitl.requests",
            "hitl.threads",
            "hitl.runs",
            "hitl.deadlines",
            "hitl.timers",
            "hitl.runner",
            "hitl.effects",  # side effects once per step: the runner binds its pool
            "hitl.thread_watch",
            "hitl.request_watch",
            "hitl.external",
            "hitl.comments",  # a request's discussion, and sending it back with a note
            "hitl.timeline",  # a thread's requests and comments, interleaved, a page at a time
            "hitl.delegation",  # who answers for whom while away
            "hitl.registry",
            "hitl.langgraph_json",  # graphs of a langgraph.json, into the registry
            "hitl.idempotency",
            "hitl.audit",
            "hitl.retention",
            "hitl.events",
            "hitl.auth",
            "hitl.notifications",
            # The delivery workers apply the domain's rules (disable a failing endpoint, record
            # a notification's fate) around their transports, as the runner does for graphs.
            "hitl.webhooks",
        ),
    ),
    (
        "infrastructure",
        (
            "hitl.db",
            "hitl.bus",
            "hitl._bus_consumer",
            "hitl.bus_envelope",
            "hitl.bus_names",
            "hitl.pg_channels",
            "hitl.pg_listener",
            "hitl.checkpointer",
            "hitl.embedded",
            "hitl.engines",
            "hitl.metrics",
            "hitl._metrics_dir",
            "hitl.leased",
            "hitl.run_streams",  # streamed runs' chunks on Redis
            "hitl.workers",
            "hitl.logcontext",
            "hitl._aio",
            "hitl._failpoints",
            "hitl._cursor",
            "hitl.webhooks.signing",
            "hitl.webhooks.ssrf",
            "hitl.webhooks.schedule",
            "hitl.notifications.slack",
            "hitl.notifications.smtp",
            "hitl.notifications.outcome",
        ),
    ),
    (
        "base",
        (
            "hitl.errors",
            "hitl.models",
            "hitl.config",
            "hitl.validation",
            "hitl.elicitation",  # MCP elicitation interrupts: their shape and answers
            "hitl.reviews",  # tool-call reviews (middleware, Agent Inbox): shape and answers
            "hitl.assignment",
            "hitl.policies",
            "hitl.headlines",
            "hitl.notifications.content",
            "hitl.auth.principal",
            "hitl.four_eyes",  # who asked may not answer: a rule on a principal and a request
            "hitl.claims",  # whose claim binds whom: rules, applied by hitl.requests
            "hitl.priority",  # the levels and their ranks
            "hitl.quorum",  # how votes decide: rules, applied by hitl.requests
        ),
    ),
]

# The client SDK stands apart: it talks to the service over HTTP and imports none of it.
SDK = "hitl.sdk"

# Imports inside a function, each with its reason (module, imported module).
LAZY_IMPORTS = {
    # `hitl --help` stays fast: the server, the service and LangGraph load only when used.
    ("hitl.cli", "uvicorn"): "start-up speed",
    ("hitl.cli", "uvloop"): "optional dependency (uvicorn[standard])",
    ("hitl.cli", "hitl.api"): "start-up speed",
    ("hitl.cli", "hitl.metrics"): "start-up speed",
    ("hitl.cli", "hitl.service"): "start-up speed",
    ("hitl.cli", "hitl.db.migrate"): "start-up speed",
    ("hitl.cli", "hitl.retention"): "start-up speed",
    ("hitl.cli", "hitl.langgraph_json"): "start-up speed (loads LangGraph and the graphs)",
    ("hitl.cli", "hitl.registry"): "start-up speed (loads LangGraph)",
    ("hitl.cli", "hitl.agents"): "start-up speed",
    ("hitl.cli", "signal"): "in the agent command, as it was (the module imports it too)",
    # pgserver warns at import time; it is imported under a warnings filter, when first needed.
    ("hitl.embedded._postgres", "pgserver"): "import-time warnings, filtered",
    ("hitl.auth.commands", "hitl.db.migrate"): "start-up speed (imported by `hitl --help`)",
}

# The demo (nodes/, graphs/, examples/) is built on the framework, never the other way round.
DEMO_IMPORTERS: set[str] = set()


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the imported module, as written (resolved to a hitl module when it is one)
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _hitl_module(name: str) -> str:
    """The hitl module a dotted name lives in (``hitl.bus.Bus`` -> ``hitl.bus``)."""
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str) -> Iterator[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, in_function: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, child.lineno, in_function, type_only)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in MODULES else base
                    yield Import(module, target, child.lineno, in_function, type_only)
            else:
                yield from walk(
                    child,
                    in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef),
                    type_only or (isinstance(child, ast.If) and _is_type_checking(child)),
                )

    for found in walk(tree, False, False):
        if found.target == "hitl" or found.target.startswith("hitl."):
            found = Import(
                found.importer,
                _hitl_module(found.target),
                found.line,
                found.in_function,
                found.type_only,
            )
        yield found


IMPORTS = [i for m in MODULES for i in imports_of(m)]


def _internal(i: Import) -> bool:
    return i.target in MODULES and i.target != i.importer


def layer_of(module: str) -> int:
    best, rank = "", -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            covers = module == prefix or (prefix != "hitl" and module.startswith(prefix + "."))
            if covers and len(prefix) > len(best):
                best, rank = prefix, index
    return rank


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if layer_of(m) < 0 and not m.startswith(SDK)]
    assert unplaced == []


def test_imports_point_down_or_sideways() -> None:
    upward = [
        f"{i.importer} ({LAYERS[layer_of(i.importer)][0]}) imports {i.target} "
        f"({LAYERS[layer_of(i.target)][0]}), line {i.line}"
        for i in IMPORTS
        if _internal(i)
        and not i.target.startswith(i.importer + ".")  # a package re-exporting its modules
        and not i.importer.startswith(SDK)
        and not i.target.startswith(SDK)
        and layer_of(i.target) < layer_of(i.importer)
    ]
    assert upward == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        # A package importing its own modules (its __init__ re-exporting them) is no cycle.
        if _internal(i) and not i.type_only and not i.target.startswith(i.importer + "."):
            edges.setdefault(i.importer, set()).add(i.target)
    assert _cycles(edges) == []


def test_no_imports_inside_functions_but_the_documented_lazy_ones() -> None:
    inside = [
        f"{i.importer} imports {i.target} in a function, line {i.line}"
        for i in IMPORTS
        if i.in_function
        and (i.importer, i.target) not in LAZY_IMPORTS
        and not i.importer.startswith(SDK)
    ]
    assert inside == []


def test_the_framework_does_not_import_the_demo() -> None:
    demo = [
        f"{i.importer} imports {i.target}, line {i.line}"
        for i in IMPORTS
        if i.target.partition(".")[0] in ("nodes", "graphs") and i.importer not in DEMO_IMPORTERS
    ]
    assert demo == []


# Shipped in the hitl-sdk distribution beside hitl/sdk/: the error classes, which import
# nothing of the server (the next test holds that).
SHIPPED_WITH_SDK = {"hitl.errors"}


def test_the_sdk_imports_nothing_of_the_server() -> None:
    # Importing hitl.sdk runs hitl/__init__.py first, so the package root counts too; its
    # type-only imports of the registry are not run (the registry loads on first use).
    server = [
        f"{i.importer} imports {i.target}, line {i.line}"
        for i in IMPORTS
        if (i.importer == "hitl" or i.importer.startswith(SDK))
        and _internal(i)
        and not i.type_only
        and not i.target.startswith(SDK)
        and i.target not in SHIPPED_WITH_SDK
    ]
    assert server == []


def test_what_ships_with_the_sdk_imports_nothing_of_the_package() -> None:
    found = [
        f"{i.importer} imports {i.target}, line {i.line}"
        for i in IMPORTS
        if i.importer in SHIPPED_WITH_SDK and _internal(i)
    ]
    assert found == []
