"""``make bench`` keeps working: every benchmark runs end to end at a tiny size, on the test
engines, and leaves no scratch database behind. (The figures are the benchmarks' business;
nothing here looks at them.)"""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from hitl.launcher import base_env
from tests.conftest import ROOT

#: A line each benchmark prints once it has its figures.
HEADINGS = [
    "full cycles/s at concurrency",
    "inbox page (50 pending requests) latency",
    "inbox sort=priority:",
    "Agent Server door (/lg), full cycles/s",
    "threads.search(status='interrupted', limit=10)",
    "streamed runs through langgraph_sdk",
    "webhooks/s at concurrency",
    "API process + N workers",
    "events/s, publish -> consume -> ack",
    "long-lived threads:",
    "quorum of 2 vs single answer",
]


def scratch_databases(database_url: str) -> set[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'hitl_bench%'")
        return {name for (name,) in rows.fetchall()}


# every part starts its own services: minutes, on this 2-core machine, not seconds
@pytest.mark.timeout(900)
def test_every_benchmark_runs_at_a_tiny_size(engines: tuple[str, str]) -> None:
    database_url, redis_url = engines
    before = scratch_databases(database_url)
    tiny = ["--cycles", "6", "--rounds", "1", "--concurrency", "2", "--samples", "4"]
    tiny += ["--large", "1200", "--webhooks", "10", "--answers", "6"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *tiny],
        cwd=ROOT,
        env={
            **base_env(),
            "HITL_BENCH_DATABASE_URL": database_url,
            "HITL_BENCH_REDIS_URL": redis_url,
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    missing = [h for h in HEADINGS if h not in done.stdout]
    assert not missing, (missing, done.stdout)
    assert scratch_databases(database_url) <= before
