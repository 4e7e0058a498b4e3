"""The log formats: JSON lines with the context's fields, readable lines at a terminal."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from hitl import cli, logcontext


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    found = logging.LogRecord("hitl.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(found, key, value)
    return found


def test_json_line_has_the_fields_of_the_context_and_the_record() -> None:
    with logcontext.bind(thread_id="t-1", run_id=7, graph="approval"):
        line = logcontext.JSONFormatter().format(
            record("run %s done", 7, worker="host:1", request_id="r-1")
        )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "run 7 done"
    assert entry["level"] == "info" and entry["logger"] == "hitl.test"
    assert entry["ts"].endswith("+00:00")
    assert {k: entry[k] for k in ("worker", "thread_id", "request_id", "run_id", "graph")} == {
        "worker": "host:1",
        "thread_id": "t-1",
        "request_id": "r-1",
        "run_id": 7,
        "graph": "approval",
    }


def test_fields_apply_only_where_they_are_bound() -> None:
    entry = json.loads(logcontext.JSONFormatter().format(record("idle")))
    assert "thread_id" not in entry and "run_id" not in entry
    with logcontext.bind(thread_id="t-1"):
        with logcontext.bind(run_id=1, request_id=None):
            assert dict(logcontext.current()) == {"thread_id": "t-1", "run_id": 1}
        assert dict(logcontext.current()) == {"thread_id": "t-1"}
    assert dict(logcontext.current()) == {}


async def test_context_is_per_task() -> None:
    seen: dict[str, object] = {}

    async def run(name: str) -> None:
        with logcontext.bind(thread_id=name):
            await asyncio.sleep(0.01)
            seen[name] = logcontext.current().get("thread_id")

    await asyncio.gather(run("a"), run("b"))
    assert seen == {"a": "a", "b": "b"}


def test_exceptions_stay_on_one_json_line() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        found = logging.LogRecord(
            "hitl.test", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    line = logcontext.JSONFormatter().format(found)
    assert "\n" not in line
    assert "ValueError: bad" in json.loads(line)["exc"]


def test_plain_line_is_readable() -> None:
    with logcontext.bind(thread_id="t-1", run_id=3):
        line = logcontext.PlainFormatter().format(record("run %s done", 3, worker="host:1"))
    assert " INFO [host:1] hitl.test: run 3 done thread_id=t-1 run_id=3" in line
    assert not line.startswith("{")
    assert "[-]" in logcontext.PlainFormatter().format(record("no worker"))


@pytest.mark.parametrize(
    "text",
    [
        "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        "headers {'Authorization': 'Bearer abc.def.ghi'}",
        "x-api-key=sk-live-123456",
        "calling Slack with xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
        "signature v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    ],
)
def test_secret_shapes_are_masked(text: str) -> None:
    masked = logcontext.redact(text)
    for secret in ("MfKQ9r8G", "K5oZfzN9", "abc.def", "sk-live", "pdFZKVeT", "a2114d57"):
        assert secret not in masked
    assert "***" in masked


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    if cli._handler is not None:
        root.removeHandler(cli._handler)
        cli._handler = None
    root.setLevel(level)


@pytest.mark.parametrize("tty", [False, True])
def test_configure_logging_picks_the_format_from_the_terminal(
    monkeypatch: pytest.MonkeyPatch, root_logging: None, tty: bool
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(stream, "isatty", lambda: tty)
    monkeypatch.setattr("sys.stderr", stream)
    cli._configure_logging("info")
    with logcontext.bind(thread_id="t-9"):
        logging.getLogger("hitl.test").info("hello %s", "there")
    line = stream.getvalue().strip()
    if tty:
        assert "INFO [" in line and "hitl.test: hello there thread_id=t-9" in line
    else:
        entry = json.loads(line)
        assert entry["message"] == "hello there" and entry["thread_id"] == "t-9"
        assert entry["worker"] == cli._worker_name.name_


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_the_format_can_be_forced(
    monkeypatch: pytest.MonkeyPatch, root_logging: None, log_format: str
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(stream, "isatty", lambda: log_format == "json")  # the opposite of auto
    monkeypatch.setattr("sys.stderr", stream)
    cli._configure_logging("info", log_format)
    logging.getLogger("hitl.test").info("hello")
    assert stream.getvalue().startswith("{") == (log_format == "json")
