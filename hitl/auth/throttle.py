"""Sign-in throttling: failed sign-ins are counted per username and per client address, and
past a limit an attempt is refused (429 with ``Retry-After``) before its password is hashed.

Each argon2 check costs tens of milliseconds of CPU, so unthrottled guessing is both a
password attack and a way to load the service. Counts live in Postgres
(``hitl_signin_failures``), so the limits hold across replicas. An attempt is counted before
its password is checked, so that many attempts sent at once count too; one that succeeds takes
itself back (and starts its account's count over). A window starts at a key's first failure
and lasts ``HITL_SIGNIN_WINDOW_SECONDS``; the limits are ``HITL_SIGNIN_MAX_FAILURES_PER_USER``
and ``HITL_SIGNIN_MAX_FAILURES_PER_ADDRESS``. An IPv6 client counts by its /64, which one
host usually has whole. The client address is the connection's, or behind a proxy named in
``HITL_FORWARDED_ALLOW_IPS`` the one it forwards.

The per-username limit lets anyone hold an account's sign-in off for a window by failing on
purpose: the price of not letting anyone guess its password at full speed.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from hitl.config import Settings
from hitl.db.sql import accounts as accounts_sql


@dataclass(frozen=True)
class Limits:
    per_user: int
    per_address: int
    window_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            per_user=settings.signin_max_failures_per_user,
            per_address=settings.signin_max_failures_per_address,
            window_seconds=settings.signin_window_seconds,
        )


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt as counted: each key's count in its window, with its time left."""

    user_key: str
    address_key: str | None
    counts: dict[str, int]
    seconds_left: dict[str, float]

    def over(self, limits: Limits) -> list[str]:
        """The keys this attempt is past the limit of (empty: it may go ahead)."""
        return [k for k, n in self.counts.items() if n > _limit_of(k, limits)]

    def retry_after(self, limits: Limits) -> int:
        """Whole seconds until every key this attempt is past the limit of has its window end."""
        return max([1, *(math.ceil(self.seconds_left[k]) for k in self.over(limits))])

    def first_refused(self, limits: Limits) -> list[str]:
        """The keys this attempt is the first refusal of (once per key and window)."""
        return [k for k, n in self.counts.items() if n == _limit_of(k, limits) + 1]


def _limit_of(key: str, limits: Limits) -> int:
    return limits.per_user if key.startswith("user:") else limits.per_address


def user_key(username: str) -> str:
    return f"user:{username[:64]}"


def address_key(host: str | None) -> str | None:
    """The key of a client address: the address, or an IPv6 address's /64; None unknown."""
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"address:{host[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"address:{address.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"address:{address}"


async def count(
    conn: AsyncConnection[Any], limits: Limits, username: str, address: str | None
) -> Attempt:
    """Count an attempt to sign in as ``username`` from ``address`` (see the module)."""
    keys = [user_key(username)] + ([a] if (a := address_key(address)) else [])
    cur = await conn.execute(
        accounts_sql.COUNT_SIGNIN_ATTEMPT, {"keys": keys, "window": limits.window_seconds}
    )
    rows = await cur.fetchall()
    return Attempt(
        user_key=keys[0],
        address_key=keys[1] if len(keys) > 1 else None,
        counts={r["key"]: r["failures"] for r in rows},
        seconds_left={r["key"]: r["seconds_left"] for r in rows},
    )


async def succeeded(conn: AsyncConnection[Any], attempt: Attempt) -> None:
    """``attempt`` signed in: it was no failure."""
    await conn.execute(
        accounts_sql.SIGNIN_SUCCEEDED,
        {"user_key": attempt.user_key, "address_key": attempt.address_key},
    )
