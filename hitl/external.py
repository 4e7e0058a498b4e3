"""External requests: a question from an agent outside the service, answered by a person and
returned to the agent by a signed webhook to its registered ``callback_webhook``, or, without
one, to the agent's long poll (``GET /api/v1/requests/{id}/wait``, `hitl.request_watch`).

Everything is checked before anything is written: the callback must be the URL of an enabled
endpoint the creator owns or an admin shared with it (its secret signs the callback, and the
agent behind it takes what is signed so as its own request's answer: naming another's endpoint
would let a caller forge answers to that agent), the response schema must be a JSON Schema,
the users and groups named in ``routing`` (and in an escalation) must exist, and a default
answer must match the response schema.
Answers go through `hitl.requests.respond` like any other request. The request records who
created it; the callback says so (``created_by``, ``created_by_subject``) beside who answered
(``responded_by``: ``system:timeout`` for a deadline's default answer).

Only the creator (or an admin) may wait on a request's answer or withdraw it
(`may_follow`): others with ``requests:read`` read it as any other request.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hitl import deadlines, errors, policies, quorum, requests
from hitl.assignment import Routing, Username
from hitl.auth.principal import Principal
from hitl.models import Request
from hitl.priority import Priority, rank
from hitl.validation import check_schema, schema_errors
from hitl.webhooks import endpoints


class ExternalRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(
        min_length=1, max_length=200, description="The agent's id for its run (a thread id)."
    )
    checkpoint_id: str | None = Field(
        None, max_length=200, description="Where the agent's run stopped, if it resumes there."
    )
    callback_webhook: str | None = Field(
        None,
        description="URL of an enabled webhook endpoint the caller registered (or an admin "
        "shared with it), where the answer is POSTed. Without one, the caller waits for the "
        "answer with GET /api/v1/requests/{id}/wait.",
    )
    context: Any = Field(description="What the person is shown (stored as the request's value).")
    title: str | None = Field(None, max_length=500)
    description: str | None = Field(None, max_length=20_000)
    response_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema the answer must match."
    )
    timeout_seconds: float | None = Field(
        None,
        gt=0,
        le=policies.MAX_TIMEOUT_SECONDS,
        description="The deadline, in seconds from now (default: HITL_REQUEST_TIMEOUT_SECONDS).",
    )
    on_timeout: policies.Policy | None = Field(
        None,
        description="What happens at the deadline: a default answer, an escalation or expiry "
        "(default: HITL_REQUEST_ON_TIMEOUT).",
    )
    reminders: policies.Reminders | None = Field(
        None,
        description="Reminders before the deadline, as fractions of the time to it "
        "(default: HITL_REQUEST_REMINDERS).",
    )
    routing: Routing | None = Field(
        None, description="Whom the request is for: users and groups (default: anyone)."
    )
    metadata: dict[str, Any] | None = None
    forbid_self_approval: bool | None = Field(
        None,
        description="Refuse answers from whoever created the request (and from on_behalf_of): "
        "four-eyes (default: on, unless HITL_FORBID_SELF_APPROVAL is none).",
    )
    priority: Priority | None = Field(
        None, description="low, normal, high or urgent (default: HITL_REQUEST_PRIORITY)."
    )
    on_behalf_of: Username | None = Field(
        None, description="The user the agent asks for: with four-eyes, they may not answer."
    )
    approval: quorum.Approval | None = Field(
        None,
        description="Quorum: several people's votes decide ({min, from, distinct, veto, "
        "approve, reject}; see docs/approvals.md). Default: one answer decides.",
    )

    @field_validator("callback_webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return endpoints.check_url(value) if value is not None else None


async def create(
    conn: AsyncConnection[Any],
    body: ExternalRequestCreate,
    defaults: deadlines.Defaults,
    creator: Principal,
) -> Request:
    """Validate (422 naming the field, nothing written), then record the request, created by
    ``creator``, with its terms: its own, else ``defaults`` (the settings')."""
    problems: list[dict[str, Any]] = []
    if body.response_schema is not None:
        problems += check_schema(body.response_schema, ("body", "response_schema"))
    schema_ok = not problems
    named: list[tuple[tuple[str | int, ...], Routing]] = []
    if body.routing:
        named.append((("body", "routing"), body.routing))
    if body.approval and body.approval.voters:
        named.append((("body", "approval", "from"), body.approval.voters))
    for loc, policy in _policy_chain(body.on_timeout):
        if isinstance(policy, policies.Escalate):
            named.append(((*loc, "to"), policy.to))
        elif isinstance(policy, policies.DefaultAnswer) and body.response_schema and schema_ok:
            problems += schema_errors(body.response_schema, policy.value, (*loc, "value"))
    for loc, routing in named:
        try:
            await requests.check_known(conn, routing, loc)
        except errors.InvalidInput as exc:
            problems += exc.detail
    if body.approval and body.approval.voters and not problems:
        problems += await _enough_voters(conn, body.approval, body.on_behalf_of)
    endpoint_id = None
    if body.callback_webhook is not None:
        endpoint_id = await endpoints.callback_endpoint(conn, body.callback_webhook, creator)
    if body.callback_webhook is not None and endpoint_id is None:
        # The same words whether nobody registered the URL or only someone else did.
        problems.append(
            {
                "loc": ["body", "callback_webhook"],
                "msg": "no enabled webhook endpoint with this URL is yours or shared with you; "
                "register it first with POST /api/v1/webhooks",
                "type": "value_error",
            }
        )
    if problems:
        raise errors.InvalidInput(problems)
    return await requests.create_external(
        conn,
        workflow_id=body.workflow_id,
        checkpoint_id=body.checkpoint_id,
        callback_endpoint_id=endpoint_id,
        callback_webhook=body.callback_webhook.strip() if body.callback_webhook else None,
        context=body.context,
        title=body.title,
        description=body.description,
        response_schema=body.response_schema,
        terms=deadlines.with_voters(
            deadlines.Terms(
                assignees=body.routing.assignees if body.routing else [],
                groups=body.routing.groups if body.routing else [],
                timeout_seconds=body.timeout_seconds or defaults.timeout_seconds,
                on_timeout=body.on_timeout or defaults.on_timeout,
                reminders=policies.reminders_of(
                    body.reminders if body.reminders is not None else defaults.reminders
                ),
                forbid_self_approval=body.forbid_self_approval
                if body.forbid_self_approval is not None
                else defaults.forbid_self_approval_external,
                on_behalf_of=body.on_behalf_of,
                priority=rank(body.priority) if body.priority else defaults.priority,
                approval=body.approval.stored() if body.approval else None,
            )
        ),
        metadata=body.metadata,
        actor=creator.name,
        actor_subject=creator.subject,
    )


async def _enough_voters(
    conn: AsyncConnection[Any], terms: quorum.Approval, on_behalf_of: str | None
) -> list[dict[str, Any]]:
    """A problem when the people ``from`` names (less the one asked for) are too few to
    approve: such a request could only be decided as unreachable."""
    assert terms.voters is not None
    pool = await requests.voter_pool(conn, terms.voters.assignees, terms.voters.groups)
    able = len(set(pool) - {on_behalf_of})
    if able >= terms.min:
        return []
    msg = f"{terms.min} approvals are needed but only {able} people may vote (approval.from)"
    return [{"loc": ["body", "approval", "min"], "msg": msg, "type": "value_error"}]


def _policy_chain(
    policy: policies.DefaultAnswer | policies.Escalate | policies.Expire | None,
) -> list[tuple[tuple[str | int, ...], Any]]:
    """A policy and the ``then`` policies after it, each with where it is in the body."""
    found: list[tuple[tuple[str | int, ...], Any]] = []
    loc: tuple[str | int, ...] = ("body", "on_timeout")
    while policy is not None:
        found.append((loc, policy))
        policy = policy.then if isinstance(policy, policies.Escalate) else None
        loc = (*loc, "then")
    return found


def may_follow(principal: Principal, request: Request) -> bool:
    """Whether ``principal`` may wait on ``request``'s answer or withdraw it: its creator
    (by `Principal.subject`: names can be taken again) or an admin. A request created before
    migration 0009 recorded no creator: only admins."""
    if principal.is_admin:
        return True
    return request.kind == "external" and (
        request.created_by_subject is not None and request.created_by_subject == principal.subject
    )


async def withdraw(conn: AsyncConnection[Any], request_id: str, by: Principal) -> Request:
    """The creator (or an admin) withdraws a pending external request: ``cancelled``, its
    event and callback sent; a later answer gets 409. Raises `errors.RequestNotFound`,
    `errors.Forbidden` (not the creator), `errors.Conflict` (a graph's interrupt: its thread
    decides) or `errors.RequestNotPending`."""
    request = await requests.get(conn, request_id)
    if not may_follow(by, request):
        raise errors.Forbidden(
            f"request {request_id!r} was created by another: only its creator and admins may "
            "withdraw it"
        )
    if request.kind != "external":
        raise errors.Conflict(
            f"request {request_id!r} is an interrupt of thread {request.thread_id!r}: answer "
            "it; only external requests are withdrawn"
        )
    return await requests.withdraw(conn, request, by.name)
