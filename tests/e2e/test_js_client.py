"""LangGraph's JavaScript client, unchanged, through the Agent Server door (``/lg``): the
lifecycle in ``tests/js/lifecycle.mjs`` run by ``node`` against a server process. The script
checks each step itself; here, that it passed and a few of the facts it reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable

from hitl.launcher import ServiceProcess, base_env
from tests.support import auth
from tests.support.node import JS_DIR


def test_the_javascript_client_runs_the_lifecycle(
    make_server: Callable[..., ServiceProcess],
) -> None:
    server = make_server().start()
    server.wait_ready()
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(JS_DIR / "lifecycle.mjs")],
        cwd=JS_DIR,
        env={**base_env(), "HITL_LG_URL": server.url + "/lg", "HITL_LG_API_KEY": auth.ADMIN_KEY},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.stdout.strip(), f"no summary (exit {done.returncode}):\n{done.stderr}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and summary["ok"], (summary, done.stderr, server.log()[-4000:])

    facts = summary["facts"]
    assert facts["first_log"] == [["ask", "approve"], ["after"]]
    assert facts["turns_log"] == [["ask", "approve"], ["after"], ["ask", "reject"], ["after"]]
    assert facts["refused_status"] == 422
    assert facts["refused_loc"][:3] == ["body", "command", "resume"]
    events = facts["stream_events"]
    assert events["metadata"] == 1 and events["end"] == 1
    assert events["messages"] > 3 and events["custom"] == 2
    assert facts["joined_events"] == ["metadata", "updates", "updates", "end"]
