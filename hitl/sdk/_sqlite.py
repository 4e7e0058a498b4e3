"""The SDK's local SQLite files (handled webhook ids, created requests): one way to open them."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def connect(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode (each statement its own transaction; ``BEGIN`` where a
    caller needs more), waiting up to 30 s for another process's lock, closed afterwards."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        yield db
    finally:
        db.close()
