"""The request state machine: one request per pending interrupt (or per question an external
agent asks over REST), and the answers to them.

    pending --answer--> responded --run applies it--> resumed
       |                    \\--interrupt gone from the checkpoint--> superseded
       \\--thread failed / interrupt gone--> cancelled / superseded
       \\--its creator withdrew it (external requests)--> cancelled

The first valid answer wins: the update is conditional on ``state = 'pending'`` and queues the
resume run in the same transaction, so an answer is never recorded without the work it causes.
An external request has no thread: its answer queues no run but a signed callback (the event
trigger of `hitl.webhooks` writes it in the same transaction). Every request has a deadline;
when it passes unanswered, its policy applies (`hitl.deadlines`, fired by `hitl.timers`): a
default answer, an escalation, or expiry. People cannot answer past the deadline.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hitl import (
    _cursor,
    assignment,
    claims,
    delegation,
    elicitation,
    errors,
    four_eyes,
    priority,
    quorum,
    reviews,
)
from hitl.auth import Principal
from hitl.db.sql import claims as claims_sql
from hitl.db.sql import requests as requests_sql
from hitl.db.sql import runs as runs_sql
from hitl.db.sql import threads as threads_sql
from hitl.db.sql import votes as votes_sql
from hitl.models import Page, Request
from hitl.validation import validate_response

if TYPE_CHECKING:
    from hitl.deadlines import Terms


#: Who acts when a deadline passes: its default answer, escalation or expiry.
DEADLINE_ACTOR = "system:timeout"


class GatheredResponse(Request):
    previous_run_id: int | None = None


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as `Request` fields (ids as strings)."""
    delivery = row.get("callback_delivery_id")
    return {
        **row,
        "id": str(row["id"]),
        "callback_delivery_id": delivery and str(delivery),
        "expires_at": row.get("deadline_at"),
        "priority": priority.name_of(row.get("priority")),
    }


def from_row(row: dict[str, Any]) -> Request:
    """A stored ``hitl_requests`` row as a `Request`."""
    return Request.model_validate(_fields(row))


def page_of(rows: list[dict[str, Any]], limit: int) -> Page[Request]:
    """A page from up to ``limit + 1`` rows in listing order (one more means there is more)."""
    items = [from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _cursor.encode(items[-1].created_at, items[-1].id) if more else None
    return Page[Request](items=items, next_cursor=next_cursor)


async def get(conn: AsyncConnection[Any], request_id: str) -> Request:
    try:
        uuid.UUID(request_id)
    except ValueError:  # not an id this service hands out: it cannot exist
        raise errors.RequestNotFound(request_id) from None
    cur = await conn.execute(requests_sql.GET_REQUEST, (request_id,))
    row = await cur.fetchone()
    if row is None:
        raise errors.RequestNotFound(request_id)
    return from_row(row)


Sort = Literal["newest", "priority", "deadline"]
SORTS: tuple[str, ...] = ("newest", "priority", "deadline")
_LISTINGS = {
    "newest": requests_sql.LIST_REQUESTS,
    "priority": requests_sql.LIST_REQUESTS_BY_PRIORITY,
    "deadline": requests_sql.LIST_REQUESTS_BY_DEADLINE,
}


async def list_page(
    conn: AsyncConnection[Any],
    *,
    state: str | None = None,
    graph: str | None = None,
    thread_id: str | None = None,
    kind: str | None = None,
    assigned_to: str | None = None,
    claimed_by: str | None = None,
    assignee: str | None = None,
    group_of: str | None = None,
    due_before: datetime | None = None,
    sort: Sort = "newest",
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Request]:
    """A page of requests, newest first (or by ``sort``: priority, then newest; deadline,
    soonest first). ``assigned_to`` (a username) keeps those assigned to that user, directly
    or through one of their groups; the inbox's views (docs/approvals.md): ``assignee`` those
    assigned to the user by name, ``group_of`` those assigned to one of the user's groups,
    ``claimed_by`` those the user holds a live claim on, ``due_before`` pending ones due
    before then."""
    at, key, rank = _sort_key(cursor, sort) if cursor else (None, None, None)
    params: dict[str, Any] = {"state": state, "graph": graph, "thread_id": thread_id, "kind": kind}
    params |= {"assigned_to": assigned_to, "claimed_by": claimed_by, "assignee": assignee}
    params |= {"group_of": group_of, "due_before": due_before}
    params |= {"at": at, "key": key, "rank": rank, "limit": limit + 1}
    cur = await conn.execute(_LISTINGS[sort], params)
    rows = await cur.fetchall()
    page = page_of(rows, limit)
    if page.next_cursor and sort != "newest":
        last = rows[limit - 1]
        if sort == "priority":
            page.next_cursor = _cursor.encode(
                last["created_at"], f"{last['priority']}:{last['id']}"
            )
        else:
            page.next_cursor = _cursor.encode(last["deadline_at"], str(last["id"]))
    return page


def _sort_key(cursor: str, sort: Sort) -> tuple[datetime, str, int | None]:
    """The keyset a ``sort`` listing's cursor holds: a time, an id and (by priority) a rank."""
    if sort != "priority":
        at, key = _cursor.decode(cursor, uuid_key=True)
        return at, key, None
    at, both = _cursor.decode(cursor)
    rank, _, key = both.partition(":")
    try:
        level = int(rank)
        if not 0 <= level < len(priority.LEVELS):
            raise ValueError(rank)
        return at, str(uuid.UUID(key)), level
    except ValueError:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["query", "cursor"],
                    "msg": "not a cursor from this API",
                    "type": "value_error",
                }
            ]
        ) from None


async def pending_of_thread(conn: AsyncConnection[Any], thread_id: str) -> list[Request]:
    """The thread's pending requests, oldest first."""
    cur = await conn.execute(requests_sql.PENDING_REQUESTS_OF_THREAD, (thread_id,))
    return [from_row(r) for r in await cur.fetchall()]


async def of_thread(
    conn: AsyncConnection[Any], thread_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page[Request]:
    """A page of the thread's requests, newest first (``cursor``: the page after it): a long
    thread's history is read a page at a time."""
    at, key = _cursor.decode(cursor, uuid_key=True) if cursor else (None, None)
    params = {"thread_id": thread_id, "at": at, "key": key, "limit": limit + 1}
    cur = await conn.execute(requests_sql.REQUESTS_OF_THREAD, params)
    return page_of(await cur.fetchall(), limit)


Responder = Principal | str
"""Who answers: a `Principal`, whose right to answer the request is checked (403 if it may
not), or a plain name for the service's own answers (``system:timeout``), which are trusted."""


Via = dict[str, str]
"""The door an answer came through, recorded with it in the audit log: ``{"via": "slack",
"slack_user": "U123"}``, ``{"via": "email"}``. None: the web form or the API."""


async def respond(
    pool: AsyncConnectionPool[Any],
    request_id: str,
    response: Any,
    by: Responder,
    *,
    via: Via | None = None,
) -> Request:
    """Answer one request: validate, record, queue the resume. Raises on 403/404/409/422."""
    async with pool.connection() as conn:
        return await respond_on(conn, request_id, response, by, via=via)


async def respond_on(
    conn: AsyncConnection[Any],
    request_id: str,
    response: Any,
    by: Responder,
    *,
    via: Via | None = None,
) -> Request:
    """`respond` on a given connection (inside the caller's transaction, if it opened one)."""
    request = await get(conn, request_id)
    return await _answer(conn, request, response, ("body", "response"), by, via=via)


async def create_external(
    conn: AsyncConnection[Any],
    *,
    workflow_id: str,
    callback_endpoint_id: str | None,
    callback_webhook: str | None,
    context: Any,
    checkpoint_id: str | None = None,
    title: str | None = None,
    description: str | None = None,
    response_schema: dict[str, Any] | None = None,
    terms: Terms,
    metadata: dict[str, Any] | None = None,
    actor: str = "api",
    actor_subject: str | None = None,
) -> Request:
    """Record a request from an agent outside the service, with its event and audit entry;
    ``actor`` (and its `Principal.subject`) is recorded as its creator.

    The caller has validated the input (the callback endpoint exists and is enabled, the
    response schema is a JSON Schema) and resolved its assignment and deadline (``terms``).
    """
    fixed = terms.as_json()
    cur = await conn.execute(
        requests_sql.CREATE_EXTERNAL_REQUEST,
        {
            "workflow_id": workflow_id,
            "checkpoint_id": checkpoint_id,
            "endpoint_id": callback_endpoint_id,
            "callback": callback_webhook,
            "context": Jsonb(context),
            "response_schema": Jsonb(response_schema) if response_schema is not None else None,
            "title": title,
            "description": description,
            "metadata": Jsonb(metadata or {}),
            "assignees": fixed["assignees"],
            "groups": fixed["groups"],
            "timeout": fixed["timeout"],
            "on_timeout": Jsonb(fixed["on_timeout"]),
            "reminders": fixed["reminders"],
            "on_behalf_of": fixed["on_behalf_of"],
            "forbid_self_approval": fixed["forbid_self_approval"],
            "priority": fixed["priority"],
            "approval": Jsonb(fixed["approval"]) if fixed["approval"] is not None else None,
            "actor": actor,
            "actor_subject": actor_subject,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return from_row(row)


async def withdraw(conn: AsyncConnection[Any], request: Request, actor: str) -> Request:
    """Close a pending external request as ``cancelled`` (its creator withdrew it), with its
    event and audit entry; the caller checked who may. `errors.RequestNotPending` if it was
    answered, expired or withdrawn first."""
    cur = await conn.execute(requests_sql.WITHDRAW_REQUEST, {"id": request.id, "actor": actor})
    row = await cur.fetchone()
    if row is None:
        current = await get(conn, request.id)
        raise errors.RequestNotPending(current.id, current.state, current)
    return from_row(row)


async def respond_thread(
    pool: AsyncConnectionPool[Any], thread_id: str, resume: dict[str, Any], by: Responder
) -> list[Request]:
    """Answer several interrupts of one thread at once: all of them, or none. Raises 404 for
    an unknown thread, else as `respond` does."""
    async with pool.connection() as conn:
        return await _respond_thread(conn, thread_id, resume, by, single=len(resume) <= 1)


async def respond_thread_run(
    pool: AsyncConnectionPool[Any],
    thread_id: str,
    resume: dict[str, Any],
    by: Responder,
    run_options: dict[str, Any],
    pending: list[Request],
) -> dict[str, Any]:
    """As `respond_thread`, for answers to the thread's ``pending`` requests (as just read), and
    give the run that applies them ``run_options`` (a webhook, metadata: the Agent Server
    door's) in the same transaction, before any worker can claim it (without options, the
    answers are their own statements). Returns that run's row (with its thread's graph)."""
    known: dict[str | None, Request] = {
        r.interrupt_id: r for r in pending if r.interrupt_id in resume
    }
    async with pool.connection() as conn:
        if not run_options:
            recorded = await _respond_thread(
                conn, thread_id, resume, by, single=len(resume) <= 1, known=known
            )
            row = await (await conn.execute(runs_sql.RESUMING_RUN_OF, (thread_id,))).fetchone()
        else:
            async with conn.transaction():
                recorded = await _respond_thread(
                    conn, thread_id, resume, by, single=True, known=known
                )
                cur = await conn.execute(
                    runs_sql.RESUMING_RUN, {"thread_id": thread_id, "options": Jsonb(run_options)}
                )
                row = await cur.fetchone()
    waiting = [r.id for r in recorded if r.state == "pending"]  # votes short of a quorum
    if row is None and waiting:
        raise errors.Conflict(
            f"the vote was recorded; request {waiting[0]!r} waits for more votes (quorum), "
            "so no run resumes the thread yet"
        )
    if row is None:
        raise errors.Conflict(f"thread {thread_id!r} has no run applying its answers")
    found: dict[str, Any] = row
    return found


async def _respond_thread(
    conn: AsyncConnection[Any],
    thread_id: str,
    resume: dict[str, Any],
    by: Responder,
    *,
    single: bool,
    known: dict[str | None, Request] | None = None,
) -> list[Request]:
    """`respond_thread` on ``conn``; ``single``: the caller holds a transaction already, or
    there is one answer (one statement, atomic on its own); ``known``: the requests named, as
    the caller just read them (each answer is conditional on its request still pending)."""
    if known is not None and set(known) == set(resume):
        by_interrupt = known
    else:
        # only the requests named: an answer reads as many rows as it names, not the thread's
        # history
        cur = await conn.execute(requests_sql.REQUESTS_OF_INTERRUPTS, (thread_id, list(resume)))
        by_interrupt = {r["interrupt_id"]: from_row(r) for r in await cur.fetchall()}
    if (
        not by_interrupt
        and not await (await conn.execute(threads_sql.GET_THREAD, (thread_id,))).fetchone()
    ):
        raise errors.ThreadNotFound(thread_id)
    if not resume:
        raise errors.InvalidInput(
            [
                {
                    "loc": ["body", "resume"],
                    "msg": "name at least one interrupt id",
                    "type": "missing",
                }
            ]
        )
    problems = []
    for interrupt_id in resume:
        if interrupt_id not in by_interrupt:
            problems.append(
                {
                    "loc": ["body", "resume", interrupt_id],
                    "msg": f"thread {thread_id!r} has no interrupt {interrupt_id!r}",
                    "type": "value_error",
                }
            )
    if problems:
        raise errors.InvalidInput(problems)
    for interrupt_id, value in resume.items():
        _check_answerable(by_interrupt[interrupt_id], value, ("body", "resume", interrupt_id), by)
    # In the order of their ids, as a run's record locks a thread's open requests: two
    # transactions taking the same rows in one order cannot deadlock.
    recorded: dict[str, Request] = {}
    # one answer is one statement, atomic on its own
    async with contextlib.nullcontext() if single else conn.transaction():
        for iid, value in sorted(resume.items(), key=lambda kv: by_interrupt[kv[0]].id):
            loc = ("body", "resume", iid)
            recorded[iid] = await _answer(conn, by_interrupt[iid], value, loc, by)
    return [recorded[iid] for iid in resume]


def _name(by: Responder) -> str:
    return by if isinstance(by, str) else by.name


def may_answer(by: Responder, request: Request) -> bool:
    return isinstance(by, str) or by.may_answer(request)


def _check_answerable(
    request: Request,
    response: Any,
    loc: tuple[str | int, ...],
    by: Responder,
    standing_for: str | None = None,
    *,
    entitled: bool | None = None,
) -> None:
    """``standing_for``: the person ``by`` answers for (`hitl.delegation`), if any;
    ``entitled``: whether ``by`` may answer at all, where the caller decided it (a quorum's
    voters), else their assignment or ``standing_for`` decides."""
    if entitled is None:
        entitled = may_answer(by, request) or standing_for is not None
    if not entitled:
        raise errors.NotAssigned(request.id)
    if not isinstance(by, str) and four_eyes.refuses(by, request):
        raise errors.SelfApproval(request.id, by.name)
    if standing_for is not None and four_eyes.refuses_for(standing_for, request):
        raise errors.SelfApproval(request.id, standing_for)
    if request.state != "pending":
        raise errors.RequestNotPending(request.id, request.state, request)
    if not isinstance(by, str) and claims.blocks(by, request):
        raise errors.Claimed(request.id, request.claimed_by, request.claim_expires_at)
    if request.deadline_at is not None and request.deadline_at <= datetime.now(UTC):
        raise errors.RequestPastDeadline(request.id, request.deadline_at, request)
    validate_answer(request, response, loc)


def validate_answer(request: Request, value: Any, loc: tuple[str | int, ...]) -> None:
    """Raise `errors.ResponseInvalid` unless ``value`` answers ``request``: its response
    schema, or, for a value in a shape the service knows without one (an MCP elicitation,
    `hitl.elicitation`; a tool-call review, `hitl.reviews`), that shape's rules."""
    validate_response(request.response_schema, value, loc)
    if request.response_schema is not None:
        return
    if asked := elicitation.parse(request.value):
        elicitation.check_answer(asked, value, loc)
    elif review := reviews.parse(request.value):
        reviews.check_answer(review, value, loc)


# Answers checked again after the request was reassigned under them, before giving up.
REASSIGNED_RETRIES = 3


class _Reassigned(Exception):
    """The request's assignment changed after the answerer was checked against it."""

    def __init__(self, current: Request) -> None:
        super().__init__(current.id)
        self.current = current


async def _answer(
    conn: AsyncConnection[Any],
    request: Request,
    response: Any,
    loc: tuple[str | int, ...],
    by: Responder,
    *,
    via: Via | None = None,
) -> Request:
    """Check that ``by`` may answer ``request`` as read, then record the answer on condition
    that the row still has the assignment checked against. A reassignment committed between
    the read and the update makes the update match nothing: the request is read again and
    the answerer checked against its new assignment (`errors.NotAssigned` if that leaves them
    out), so nobody answers a request that is no longer theirs."""
    if request.approval is not None and not isinstance(by, str):
        return await _vote(conn, request, response, loc, by, via)
    for _ in range(REASSIGNED_RETRIES):
        standing_for = None
        if not isinstance(by, str) and by.kind == "user" and not by.may_answer(request):
            standing_for = await delegation.stands_in_for(conn, by.name, request)
        _check_answerable(request, response, loc, by, standing_for)
        seen = None if isinstance(by, str) else (request.assignees, request.assigned_groups)
        # another's claim taken after this check refuses the answer too (admins pass)
        claimer = None if isinstance(by, str) or by.is_admin else by.subject
        try:
            return await _record_answer(
                conn,
                request,
                response,
                _name(by),
                assignment=seen,
                via=via,
                claimer=claimer,
                responded_for=standing_for,
            )
        except _Reassigned as exc:
            request = exc.current
    raise errors.Conflict(f"request {request.id!r} was reassigned while answering; try again")


async def _record_answer(
    conn: AsyncConnection[Any],
    request: Request,
    response: Any,
    responded_by: str,
    *,
    deadline_action: str | None = None,
    assignment: tuple[list[str], list[str]] | None = None,
    via: Via | None = None,
    claimer: str | None = None,
    responded_for: str | None = None,
) -> Request:
    """The conditional update and everything it causes, in one statement (see the query);
    with ``assignment`` (assignees, groups), only while the request still has it; with
    ``claimer`` (a subject), only while nobody else holds a live claim on it."""
    cur = await conn.execute(
        requests_sql.RESPOND_REQUEST,
        {
            "response": Jsonb(response),
            "actor": responded_by,
            "id": request.id,
            "deadline_action": deadline_action,
            "assignees": assignment and assignment[0],
            "groups": assignment and assignment[1],
            "via": Jsonb(via) if via else None,
            "claimer": claimer,
            "responded_for": responded_for,
        },
    )
    row = await cur.fetchone()
    if row is None:  # someone else answered between our read and this update (or it expired)
        current = await get(conn, request.id)
        if (
            current.state == "pending"
            and claimer is not None
            and claims.holds(current)
            and current.claimed_by_subject != claimer
        ):
            raise errors.Claimed(current.id, current.claimed_by, current.claim_expires_at)
        if (
            current.state == "pending"
            and assignment is not None
            and assignment
            != (
                current.assignees,
                current.assigned_groups,
            )
        ):
            raise _Reassigned(current)
        if current.state == "pending" and current.deadline_at is not None:
            raise errors.RequestPastDeadline(current.id, current.deadline_at, current)
        raise errors.RequestNotPending(current.id, current.state, current)
    return from_row(row)


async def _vote(
    conn: AsyncConnection[Any],
    request: Request,
    response: Any,
    loc: tuple[str | int, ...],
    by: Principal,
    via: Via | None = None,
) -> Request:
    """A vote on a quorum request (`hitl.quorum`): under the request's row lock, checked again
    as an answer, counted for the voter or for the person they stand in for (once per person:
    `errors.AlreadyVoted`), recorded, and, when the votes reach a decision, the request
    answered with it. The request as it then is (still pending while undecided)."""
    terms = quorum.APPROVAL.validate_python(request.approval)
    async with conn.transaction():
        row = await (await conn.execute(votes_sql.LOCK_REQUEST, (request.id,))).fetchone()
        if row is None:
            raise errors.RequestNotFound(request.id)
        current = from_row(row)
        ballots = await _ballots(conn, current.id)
        counts_for = await _counts_for(conn, terms, current, by, ballots)
        standing_for = counts_for.delegator if counts_for else None
        _check_answerable(current, response, loc, by, standing_for, entitled=True)
        params = {
            "request_id": current.id,
            "subject": by.subject,
            "voter": by.name,
            "counts_for": counts_for.subject if counts_for else by.subject,
            "responded_for": standing_for,
            "vote": Jsonb(response),
            "decision": Jsonb(quorum.decision_of(response)),
            "via": via["via"] if via else None,  # the door; None: the web form or the API
        }
        if await (await conn.execute(votes_sql.ADD_VOTE, params)).fetchone() is None:
            raise errors.AlreadyVoted(current.id, standing_for or by.name)
        votes = await votes_of(conn, current.id)
        still_open = await _still_to_vote(conn, terms, current, votes)
        decision = quorum.decide(terms, votes, still_open)
        if decision is None:
            return current
        answer = quorum.outcome(decision, votes)
        return await _record_answer(
            conn, current, answer, by.name, via=via, responded_for=standing_for
        )


async def _ballots(conn: AsyncConnection[Any], request_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(votes_sql.VOTES_OF_REQUEST, (request_id,))
    return await cur.fetchall()


async def _counts_for(
    conn: AsyncConnection[Any],
    terms: quorum.Approval,
    request: Request,
    by: Principal,
    ballots: list[dict[str, Any]],
) -> delegation.StandIn | None:
    """Whom ``by``'s vote counts for: themselves (None) if they may vote and were not counted
    yet, else the first person they stand in for who may vote and was not counted yet.
    `errors.NotAssigned` if they may vote for nobody; `errors.AlreadyVoted` if everyone they
    may vote for was counted (or, with ``distinct``, they voted already)."""
    if terms.distinct and any(b["voter_subject"] == by.subject for b in ballots):
        raise errors.AlreadyVoted(request.id, by.name)
    voters = terms.voters
    own = (
        by.may_answer(request)
        if voters is None
        else (by.kind == "user" and voters.include(by.name, by.groups))
    )
    counted = {b["counts_for"] for b in ballots}
    if own and by.subject not in counted:
        return None  # (the usual vote: no need to look for whom else they stand in)
    stand_ins = []
    if by.kind == "user":
        stand_ins = [
            s
            for s in await delegation.acting_for(conn, by.name)
            if (s.covers(request) if voters is None else voters.include(s.delegator, s.groups))
        ]
    if not own and not stand_ins:
        if voters is not None and by.may_answer(request):
            raise errors.NotAVoter(request.id)
        raise errors.NotAssigned(request.id)
    for stand_in in stand_ins:
        if stand_in.subject not in counted:
            return stand_in
    raise errors.AlreadyVoted(request.id, by.name)


async def may_vote(conn: AsyncConnection[Any], by: Principal, request: Request) -> bool:
    """Whether ``by`` is among the people who may vote on the quorum ``request`` (in their own
    right or for someone they stand in for), votes cast so far aside."""
    terms = quorum.APPROVAL.validate_python(request.approval)
    try:
        await _counts_for(conn, terms, request, by, [])
    except errors.Forbidden:
        return False
    return True


async def voter_pool(
    conn: AsyncConnection[Any], assignees: list[str], groups: list[str], *, admins: bool = False
) -> list[str]:
    """The people who may vote on a closed list (`hitl.quorum`): enabled users who may answer,
    named in ``assignees`` or members of ``groups`` (and, with ``admins``, every admin)."""
    cur = await conn.execute(
        votes_sql.VOTER_POOL, {"assignees": assignees, "groups": groups, "admins": admins}
    )
    return [r["username"] for r in await cur.fetchall()]


async def _still_to_vote(
    conn: AsyncConnection[Any], terms: quorum.Approval, request: Request, votes: list[quorum.Vote]
) -> int | None:
    """How many more people may vote on ``request``, where its voters are a closed list:
    ``from``, else an assigned request's people and admins; None for an open request."""
    if terms.voters is not None:
        names, groups, admins = terms.voters.assignees, terms.voters.groups, False
    elif request.assignees or request.assigned_groups:
        names, groups, admins = request.assignees, request.assigned_groups, True
    else:
        return None
    pool = await voter_pool(conn, names, groups, admins=admins)
    refused = [name for name in pool if four_eyes.refuses_for(name, request)]
    return quorum.still_to_vote(terms, pool, votes, refused)


async def votes_of(conn: AsyncConnection[Any], request_id: str) -> list[quorum.Vote]:
    """A quorum request's votes, oldest first."""
    return [
        quorum.Vote(
            by=r["voter"],
            responded_for=r["responded_for"],
            decision=r["decision"],
            response=r["vote"],
            at=r["created_at"],
            via=r["via"],
        )
        for r in await _ballots(conn, request_id)
    ]


async def answer_at_deadline(conn: AsyncConnection[Any], request: Request, value: Any) -> Request:
    """The ``default`` deadline policy: answer as `DEADLINE_ACTOR` with ``value``, validated
    against the response schema like a person's answer (raises `errors.ResponseInvalid`, with
    ``loc`` under ``on_timeout.value``), queueing the resume like any answer. The caller holds
    the request's row lock (`hitl.timers`)."""
    validate_answer(request, value, ("on_timeout", "value"))
    return await _record_answer(conn, request, value, DEADLINE_ACTOR, deadline_action="default")


# -- used by the runner --------------------------------------------------


async def gather(
    conn: AsyncConnection[Any], thread_id: str, run_id: int
) -> tuple[list[GatheredResponse], bool]:
    """The answered requests a run applies, now tied to the run; and whether the thread's
    latest checkpoint is the one its last run recorded (written by that run's recording
    attempt: the runner names run and attempt in the checkpoints' metadata)."""
    cur = await conn.execute(
        requests_sql.GATHER_RESPONSES, {"thread_id": thread_id, "run_id": run_id}
    )
    rows = await cur.fetchall()
    gathered, unchanged = [], bool(rows)
    for row in rows:
        written_by, recorded_by = row.pop("checkpoint_written_by"), row.pop("recorded_by")
        unchanged = unchanged and written_by is not None and written_by == recorded_by
        gathered.append(GatheredResponse.model_validate(_fields(row)))
    return gathered, unchanged


async def check_known(
    conn: AsyncConnection[Any], routing: assignment.Routing, loc: tuple[str | int, ...]
) -> None:
    """Raise `errors.InvalidInput` naming each user or group that does not exist.

    Used where a client names them (the API); graphs' interrupt values and registrations are
    taken as they are, since a graph cannot be told about a typo by a 422.
    """
    if not routing.assignees and not routing.groups:
        return
    cur = await conn.execute(requests_sql.UNKNOWN_ASSIGNEES, (routing.assignees, routing.groups))
    row = await cur.fetchone()
    assert row is not None
    unknown_users = set(row["users"] or ())
    unknown_groups = set(row["groups"] or ())
    problems = [
        {"loc": [*loc, "assignees", i], "msg": f"no user {name!r}", "type": "value_error"}
        for i, name in enumerate(routing.assignees)
        if name in unknown_users
    ] + [
        {"loc": [*loc, "groups", i], "msg": f"no group {name!r}", "type": "value_error"}
        for i, name in enumerate(routing.groups)
        if name in unknown_groups
    ]
    if problems:
        raise errors.InvalidInput(problems)


async def reassign(
    conn: AsyncConnection[Any],
    request_id: str,
    routing: assignment.Routing,
    actor: str,
    loc: tuple[str | int, ...] = ("body",),
) -> Request:
    """Assign a pending request to ``routing`` (replacing its assignment), with its
    ``request.assigned`` event and ``request.assign`` audit entry (before and after).

    Raises `errors.RequestNotFound`, `errors.InvalidInput` (an unknown user or group, under
    ``loc``) or `errors.RequestNotPending`; nothing changes then.
    """
    current = await get(conn, request_id)
    if current.state != "pending":
        raise errors.RequestNotPending(current.id, current.state, current)
    await check_known(conn, routing, loc)
    cur = await conn.execute(
        requests_sql.REASSIGN_REQUEST,
        {
            "id": current.id,
            "assignees": routing.assignees,
            "groups": routing.groups,
            "actor": actor,
        },
    )
    row = await cur.fetchone()
    if row is None:  # answered (or expired) meanwhile
        current = await get(conn, request_id)
        raise errors.RequestNotPending(current.id, current.state, current)
    return from_row(row)


# -- claims (rules in hitl/claims.py) --------------------------------------------------------------


async def claim(
    conn: AsyncConnection[Any], request_id: str, by: Principal, seconds: float
) -> Request:
    """Claim a pending request for ``seconds`` (renewing one's own claim; an admin takes
    another's over). Raises `errors.RequestNotFound`, `errors.NotAssigned` /
    `errors.SelfApproval` (403), `errors.RequestNotPending` or `errors.Claimed` (409)."""
    current = await get(conn, request_id)
    _check_claimable(by, current)
    return await _write_claim(conn, claims_sql.CLAIM_REQUEST, current, by, seconds)


async def unclaim(conn: AsyncConnection[Any], request_id: str, by: Principal) -> Request:
    """Release a claim: one's own, an expired one, or (admins) anyone's. A request nobody
    claimed is returned as it is."""
    current = await get(conn, request_id)
    if current.state != "pending":
        raise errors.RequestNotPending(current.id, current.state, current)
    if current.claimed_by_subject is None:
        return current
    if claims.blocks(by, current):
        raise errors.Claimed(current.id, current.claimed_by, current.claim_expires_at)
    return await _write_claim(conn, claims_sql.UNCLAIM_REQUEST, current, by, 0)


def _check_claimable(by: Principal, request: Request) -> None:
    if not by.may_answer(request):
        raise errors.NotAssigned(request.id)
    if four_eyes.refuses(by, request):
        raise errors.SelfApproval(request.id, by.name)
    if request.state != "pending":
        raise errors.RequestNotPending(request.id, request.state, request)
    if claims.blocks(by, request):
        raise errors.Claimed(request.id, request.claimed_by, request.claim_expires_at)


async def _write_claim(
    conn: AsyncConnection[Any], statement: str, current: Request, by: Principal, seconds: float
) -> Request:
    params = {
        "id": current.id,
        "actor": by.name,
        "subject": by.subject,
        "takeover": by.is_admin,
        "seconds": seconds,
    }
    row = await (await conn.execute(statement, params)).fetchone()
    if row is None:  # answered, or claimed by another, between the read and the update
        now = await get(conn, current.id)
        if now.state != "pending":
            raise errors.RequestNotPending(now.id, now.state, now)
        raise errors.Claimed(now.id, now.claimed_by, now.claim_expires_at)
    return from_row(row)
