"""``hitl agent module:Class`` finds agents outside the framework, which names none of its own."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from hitl.agents import Agent, load_agent

HITL = Path(__file__).resolve().parents[2] / "hitl"
DEMO = {"nodes", "graphs", "examples"}


def test_an_agent_module_in_the_current_folder_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "folder_agents.py").write_text(
        "from hitl.agents import Agent\n\n"
        "class Echo(Agent):\n"
        "    name = 'echo'\n"
        "    subscribes = ('x.y',)\n"
    )
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "folder_agents", raising=False)
    monkeypatch.chdir(tmp_path)
    loaded = load_agent("folder_agents:Echo")
    assert issubclass(loaded, Agent) and loaded.name == "echo"
    sys.modules.pop("folder_agents")


def test_the_example_chain_loads_by_its_path() -> None:
    assert load_agent("examples.agent_chain:CodeReviewAgent").name == "code-review"
    with pytest.raises(ValueError, match="not an Agent"):
        load_agent("examples.agent_chain:_change")


def test_the_framework_imports_no_example() -> None:
    importers = []
    for path in HITL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if any(name.split(".")[0] in DEMO for name in names):
                importers.append(f"{path.relative_to(HITL.parent)}:{node.lineno}")
    assert importers == []
