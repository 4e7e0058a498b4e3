"""The delegation form (`hitl.delegation`), as the Account page (one's own) and the People page
(an admin, for someone away) send it: ``delegate``, ``from`` and ``until`` (``datetime-local``
fields) and ``tz`` (the browser's offset; UTC without it)."""

from __future__ import annotations

import re
from typing import Any

from psycopg import AsyncConnection
from pydantic import ValidationError

from hitl import delegation, errors
from hitl.ui.auth import first


async def save(
    conn: AsyncConnection[Any], delegator: str, form: dict[str, list[str]], actor: str
) -> str:
    """Set ``delegator``'s delegation from ``form``; the problem for a person to read (``""``:
    saved). Nothing changes when there is one."""
    tz = first(form, "tz")
    try:
        body = delegation.DelegationSet.model_validate(
            {
                "delegate": first(form, "delegate").strip(),
                "from": _local_time(first(form, "from"), tz),
                "until": _local_time(first(form, "until"), tz),
            }
        )
        await delegation.put(conn, delegator, body, actor)
    except ValidationError as exc:
        return "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
    except (errors.InvalidInput, errors.NotFound) as exc:
        return errors.describe(exc.detail)
    return ""


def _local_time(text: str, offset: str) -> str:
    """A ``datetime-local`` field's value with the browser's offset (``+02:00``; UTC when the
    page sent none)."""
    text = text.strip()
    if not text:
        return text
    zone = offset.strip() if re.fullmatch(r"[+-]\d\d:\d\d", offset.strip()) else "+00:00"
    return text + (":00" if len(text) == 16 else "") + zone
