"""The notebooks, run top to bottom in a fresh kernel as a reader would, and stored clean.

Each runs in an ipykernel on the interpreter running the tests (the project's venv, whatever
kernelspecs the machine has), from the repository root, with the environment of the tests
minus ``HITL_URL``: the notebooks start their own service on embedded engines, so they do not
depend on the suite's ``HITL_TEST_*`` engines. ``TMPDIR`` points into the test's folder, so
even a notebook that fails half-way leaves its data there; a service it left running is
stopped like the notebook would have (SIGTERM, which also stops its embedded engines).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 180
NOTEBOOK_TIMEOUT = 600

# What each notebook must have printed, as regular expressions over all its output.
EXPECTED: dict[str, list[str]] = {
    "01_author_a_graph": [
        r"still waiting in: \('human_triage',\) for \['\w+'\]",
        r"'priority': 'p1', 'assignee': 'dana'",
        r"the input is still there: Drop the legacy users table - \d+ chars of diff",
        r"finished: True",
        r"shipped: \{'shipped': 'release 1\.2'\} with effect key [0-9a-f-]{36}",
        r"deploy called 1 time",
    ],
    "02_serve_and_answer": [
        r"'by': 'auto'",
        r"\('body', 'response', 'priority'\)|\['body', 'response', 'priority'\]",
        r"responded by key:notebook",
        r"thread \S+: completed",
        r"409: the request is (responded|resumed)",
        r"service stopped",
    ],
    "03_langchain_agent_with_hitl_middleware": [
        r"thread \S+: interrupted",
        r'"action_requests"',
        r'"review_configs"',
        r"thread \S+: completed",
        r"Done: Refunded 100\.00 EUR on order A-1001\.",
        r"service stopped",
    ],
    "04_external_agent_webhooks": [
        r"secret: whsec_\S+ \(returned once\)",
        r"secret when read again: not shown",
        r"paused before: \('wait',\)",
        r"request \S+: external, pending",
        r"responded by key:reviewer",
        r'outcome: \{"proposal": "deploy release 1\.2 to production", "decision": \{.*"approve"',
        r"next: \(\) - decision: \{.*'decision': 'approve'",
        r"delivery \S+ \(callback request\.responded\): succeeded\n  attempt 1: succeeded 204",
        r"attempt 2: succeeded 200",
        r"lines in the results file: 1",
        r"everything stopped",
    ],
    "05_langgraph_client_multi_turn_agent": [
        r"refund_agent - A LangChain agent",
        r'the agent calls: issue_refund\(\{"amount": 120\.0, "order_id": "A-1001"\}\)',
        r"thread \S+: interrupted",
        r'"action_requests"',
        r"Done: Refunded 120\.00 EUR on order A-1001\.\nthread \S+: idle",
        r"request \S+ resumed by key:notebook\n409: the request is resumed",
        r'the agent calls: issue_refund\(\{"amount": 80\.0, "order_id": "B-2002"\}\)',
        r"Done: Refunded 50\.00 EUR on order B-2002\.",
        r'request \S+: resumed by key:notebook: \{"type": "approve"\}\n'
        r'request \S+: resumed by key:notebook: \{"edited_action": \{"args": \{"amount": 50\.0',
        r"thread \S+: completed",
        r'Executed instead: issue_refund with arguments \{[^}]*"amount": 50\.0',
        r"\['success', 'success', 'success', 'success'\]",
        r"service stopped",
    ],
    "06_any_agent_asks_a_person": [
        r"request \S+ - callback: None - by key:agent",
        r"REST \+ wait: responded by key:notebook -> \{'env': 'prod'\}",
        r"ask\(\): Approval\(approved=True, comment='ship it'\)",
        r"asked again with the same key: True - times asked: 1",
        r"tools: \['ask_human', 'request_approval', 'get_answer', 'permission_prompt'\]",
        r"MCP request_approval: answered - approved: True - go ahead",
        r"in the inbox as: Approve: rotate the database password - created by key:agent",
        r"ask\(\) ended: RequestWithdrawn - cancelled",
        r"a late answer: 409 cancelled",
        r"service stopped",
    ],
}
# What the last cell must say: the notebook got to its end and cleaned up.
LAST_CELL: dict[str, str] = {
    "01_author_a_graph": "deploy called 1 time",
    "02_serve_and_answer": "service stopped",
    "03_langchain_agent_with_hitl_middleware": "service stopped",
    "04_external_agent_webhooks": "everything stopped",
    "05_langgraph_client_multi_turn_agent": "service stopped",
    "06_any_agent_asks_a_person": "service stopped",
}


class _ThisPython(KernelSpecManager):
    """One kernel whatever the name: ipykernel on this interpreter, not a kernelspec found on
    the machine (a user-level ``python3`` spec may point at another Python)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


def _output_text(cell: NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] in ("execute_result", "display_data"):
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


async def _stop(km: AsyncKernelManager, client: NotebookClient) -> None:
    """Shut the kernel down; stop whatever it started and left running."""
    pid = getattr(km.provisioner, "pid", None)
    try:
        leftovers = psutil.Process(pid).children(recursive=True) if pid else []
    except psutil.NoSuchProcess:
        leftovers = []
    if client.kc is not None:
        client.kc.stop_channels()
    if km.has_kernel:
        await km.shutdown_kernel(now=True)
    for process in leftovers:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = await asyncio.to_thread(psutil.wait_procs, leftovers, 60)
    for process in alive:
        process.kill()


async def execute(nb: NotebookNode, tmp_path: Path) -> NotebookNode:
    """Run every cell of ``nb`` (in place) in a fresh kernel from the repository root."""
    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(ROOT)}},
    )
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if k != "HITL_URL"}
    env["TMPDIR"] = str(tmp_path)
    try:
        await client.async_execute(env=env)
    finally:
        await _stop(km, client)
    return nb


async def test_the_kernel_runs_this_python(tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_code_cell("import sys\nprint(sys.executable, sys.prefix)")])
    await execute(nb, tmp_path)
    executable, prefix = _output_text(nb.cells[0]).split()
    assert Path(executable) == Path(sys.executable)
    assert Path(prefix) == Path(sys.prefix)  # the project's venv when run as `make test` does


def test_every_notebook_has_expectations() -> None:
    assert NOTEBOOKS, "no notebooks found"
    assert {p.stem for p in NOTEBOOKS} == set(EXPECTED) == set(LAST_CELL)


@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
async def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    nb = await execute(nbformat.read(path, as_version=4), tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    everything = "\n".join(_output_text(c) for c in code)
    for pattern in EXPECTED.get(path.stem, []):
        assert re.search(pattern, everything), f"{path.name}: no {pattern!r} in\n{everything}"
    assert LAST_CELL.get(path.stem, "") in _output_text(code[-1])
    errors = [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    # (pgserver keeps a lock folder under runtime-<uid>: shared by design, not the notebook's)
    left = [n for n in await asyncio.to_thread(os.listdir, tmp_path) if n.startswith("hitl")]
    assert left == [], f"{path.name} left its data behind: {left}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has a count"
            assert "execution" not in cell.metadata, f"{path.name} cell {index} has timings"
