"""Statements with PostgreSQL's own placeholders, converted once.

psycopg turns a query's ``%(name)s`` placeholders into ``$n`` on every execution and keeps the
result only for queries of at most 4 KiB; a longer statement (the run's record, `RECORD_RUN`)
was parsed again on every execution, most of the Python time its execution took. A
`NativeStatement` is converted when the module loads and runs on a raw cursor, which sends the
text as it is; its parameters still go by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, AsyncRawCursor

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")


@dataclass(frozen=True)
class NativeStatement:
    text: str  # with $1, $2, ...
    names: tuple[str, ...]  # the parameter of each number, in order

    @classmethod
    def of(cls, query: str) -> NativeStatement:
        """``query`` with named placeholders only (``%(name)s``; ``%%`` for a percent sign)."""
        numbers: dict[str, int] = {}

        def native(match: re.Match[str]) -> str:
            if match.group(0) == "%%":
                return "%"
            if (name := match.group(1)) is None:
                raise ValueError(f"only named placeholders here, not {match.group(0)!r}")
            return f"${numbers.setdefault(name, len(numbers) + 1)}"

        text = _PLACEHOLDER.sub(native, query)
        return cls(text, tuple(numbers))

    async def execute(
        self, conn: AsyncConnection[Any], params: Mapping[str, Any]
    ) -> AsyncRawCursor[Any]:
        cur = AsyncRawCursor(conn, row_factory=conn.row_factory)
        await cur.execute(self.text, [params[name] for name in self.names])
        return cur
