"""Timers: reminders and deadlines, fired from Postgres exactly once however many workers run.

A request's next timer is its ``timer_at`` column (see migration 0005): the next reminder, else
the deadline. Every process that runs graph runs (``hitl serve``, ``hitl worker``) polls for due
timers (`fire_due`, about once a second, in batches). A poll claims due requests with ``FOR
UPDATE SKIP LOCKED`` and acts on each in the same transaction: a reminder event; or what the
deadline's policy says now (`hitl.deadlines.at_deadline`): the default answer, an escalation,
or expiry. Each action is one statement carrying its event and audit entry, and moves the
request out of the due set (it is no longer pending, or its ``timer_at`` moved on). So:

- a timer fires once: a second worker skips the locked row, and finds it no longer due after
  the commit;
- a crash mid-fire rolls the transaction back and leaves the timer due for the next poll;
- a timer that came due while no worker ran fires at the first poll of the next one.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import db, deadlines, errors, logcontext, policies, quorum, requests
from hitl._failpoints import failpoint
from hitl.db.sql import timers as timers_sql

log = logging.getLogger("hitl.timers")

BATCH = 100
ACTOR = requests.DEADLINE_ACTOR


async def fire_due(pool: AsyncConnectionPool[Any], batch: int = BATCH) -> int:
    """Fire up to ``batch`` due timers in one transaction; return how many fired."""
    fired = 0
    async with db.transaction(pool) as conn:
        cur = await conn.execute(timers_sql.CLAIM_DUE_TIMERS, (batch,))
        for row in await cur.fetchall():
            with logcontext.bind(request_id=str(row["id"]), thread_id=row["thread_id"]):
                try:
                    async with conn.transaction():  # a savepoint: one bad row spoils no other
                        await _fire(conn, row)
                    fired += 1
                except Exception:
                    log.exception("the timer of request %s failed; it stays due", row["id"])
        if fired:
            failpoint("timers_before_commit")  # acted on, not committed: a crash undoes it all
    return fired


async def _fire(conn: AsyncConnection[Any], row: dict[str, Any]) -> None:
    if row["deadline_at"] is None or row["deadline_at"] > row["now"]:
        await conn.execute(timers_sql.REMIND_REQUEST, {"id": row["id"]})
        return
    policy = deadlines.at_deadline(deadlines.stored_policy(row["on_timeout"]), row["escalations"])
    if isinstance(policy, policies.Escalate):
        await conn.execute(
            timers_sql.ESCALATE_REQUEST,
            {
                "id": row["id"],
                "assignees": policy.to.assignees,
                "groups": policy.to.groups,
                "approval": _widened(row["approval"], policy),
                "extend": policy.extend_seconds,
                "actor": ACTOR,
            },
        )
        log.info("request %s escalated to %s", row["id"], policy.to.model_dump())
    elif isinstance(policy, policies.DefaultAnswer):
        request = requests.from_row(row)
        try:
            await requests.answer_at_deadline(conn, request, policy.value)
        except errors.ResponseInvalid as exc:
            reasons = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in exc.detail)
            await _expire(conn, row, "fail", f"the default answer was refused: {reasons}")
        else:
            log.info("request %s answered with its default at its deadline", row["id"])
    else:
        await _expire(conn, row, policy.thread, "no answer before the deadline")


def _widened(approval: Any, policy: policies.Escalate) -> Jsonb | None:
    """A quorum's terms with the people escalated to among its voters (`hitl.quorum`), where
    the terms name them (``from``); None: unchanged."""
    terms = quorum.APPROVAL.validate_python(approval) if approval is not None else None
    if terms is None or terms.voters is None:
        return None
    voters = terms.voters.widened(policy.to.assignees, policy.to.groups)
    return Jsonb(terms.model_copy(update={"voters": voters}).stored())


async def _expire(
    conn: AsyncConnection[Any], row: dict[str, Any], thread: str, reason: str
) -> None:
    await conn.execute(
        timers_sql.EXPIRE_REQUEST,
        {"id": row["id"], "thread": thread, "reason": reason, "actor": ACTOR},
    )
    log.info("request %s expired: %s", row["id"], reason)
