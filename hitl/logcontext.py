"""Structured logs: a context (thread, request, run) carried by a contextvar, and two formats.

The runner binds ``thread_id``, ``run_id`` and ``graph`` for the duration of a run, so every line
logged while it runs (by the service, LangGraph or a node) names them without passing them
around. ``extra={"request_id": ...}`` on one call adds to (or overrides) the context.

`JSONFormatter` writes one JSON object per line (for log collectors, when stderr is not a
terminal); `PlainFormatter` a readable line with the same fields appended as ``key=value``. Both
mask what looks like a credential (webhook secrets, signatures, API keys, Authorization
headers) in the message: a last line of defence; the code logs none on purpose.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

# The fields a record may carry, from the context or from ``extra``, in output order.
FIELDS = ("worker", "thread_id", "request_id", "run_id", "graph", "delivery_id", "endpoint_id")

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "hitl_log_context", default=MappingProxyType({})
)

_SECRETS = (
    # Standard Webhooks secrets and signatures ("whsec_<base64>", "v1,<base64>" ...).
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_***"),
    (re.compile(r"\bv1a?,[A-Za-z0-9+/=_-]{16,}"), "v1,***"),
    # Slack tokens ("xoxb-...") and request signatures ("v0=<hex>").
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"), "xox*-***"),
    (re.compile(r"\bv0=[0-9a-f]{16,}"), "v0=***"),
    (
        re.compile(
            r"(?i)\b(authorization|proxy-authorization|x-api-key|api[-_]?key|secret|"
            r"password|token)(['\"]?\s*[:=]\s*['\"]?)(bearer\s+|basic\s+)?[^\s'\",;}]+"
        ),
        r"\1\2\3***",
    ),
)


def current() -> Mapping[str, Any]:
    """The fields bound in this context (task)."""
    return _context.get()


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to the log context until the block ends (None values are left out)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def redact(text: str) -> str:
    """``text`` with anything shaped like a secret masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of ``record``: the context's, then its own (``extra``) on top."""
    found = {k: v for k, v in current().items() if k in FIELDS}
    for key in FIELDS:
        value = getattr(record, key, None)
        if value is not None:
            found[key] = value
    return {k: found[k] for k in FIELDS if k in found}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the fields, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            **fields_of(record),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """``time LEVEL [worker] logger: message key=value ...``, for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(worker)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = fields_of(record)
        record.worker = fields.pop("worker", "-")
        line = redact(super().format(record))
        if fields:
            head, sep, tail = line.partition("\n")  # a traceback stays below the fields
            line = head + " " + " ".join(f"{k}={v}" for k, v in fields.items()) + sep + tail
        return line
