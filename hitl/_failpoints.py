"""Named crash points for fault-injection tests.

``HITL_FAILPOINTS=after_checkpoint`` makes the process SIGKILL itself when it reaches
``failpoint("after_checkpoint")``: the tests prove that a crash at that exact point loses
nothing. Unset (always, in production) a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_ACTIVE = frozenset(filter(None, os.environ.get("HITL_FAILPOINTS", "").split(",")))


def failpoint(name: str) -> None:
    if name in _ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
