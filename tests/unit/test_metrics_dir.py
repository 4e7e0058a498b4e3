"""The shared metrics folder (hitl/_metrics_dir.py): who empties it, what survives whom.

These call the folder functions only; the process-wide multiprocess mode is left off here (the
end-to-end tests in tests/e2e/test_operations.py run it in real processes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hitl import _metrics_dir


def dead_pid() -> int:
    """The pid of a process that has ended."""
    code = "import os; print(os.getpid())"
    proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(proc.stdout)


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.db")}


def test_the_first_process_empties_the_folder_later_ones_keep_it(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    gone, me = dead_pid(), os.getpid()
    (folder / "counter_1.db").write_bytes(b"")
    (folder / f"gauge_livesum_{gone}.db").write_bytes(b"")

    first = _metrics_dir.take_share(folder)  # nobody else: an earlier generation, emptied
    assert files(folder) == set()

    for name in (f"counter_{gone}.db", f"gauge_livesum_{gone}.db", f"gauge_livesum_{me}.db"):
        (folder / name).write_bytes(b"")
    second = _metrics_dir.take_share(folder)  # the first still holds it: only the dead's gauges go
    assert files(folder) == {f"counter_{gone}.db", f"gauge_livesum_{me}.db"}

    first.close()
    second.close()
    _metrics_dir.take_share(folder).close()  # the last one left: the next comes to a clean folder
    assert files(folder) == set()


def test_forget_dead_drops_live_gauges_of_processes_gone(tmp_path: Path) -> None:
    gone, me = dead_pid(), os.getpid()
    for name in (
        f"gauge_livesum_{gone}.db",
        f"gauge_livemax_{gone}.db",
        f"gauge_max_{gone}.db",  # not a live mode: the value outlives the process
        f"histogram_{gone}.db",
        f"gauge_livesum_{me}.db",
    ):
        (tmp_path / name).write_bytes(b"")

    _metrics_dir.forget_dead(tmp_path)

    kept = {f"gauge_max_{gone}.db", f"histogram_{gone}.db", f"gauge_livesum_{me}.db"}
    assert files(tmp_path) == kept
