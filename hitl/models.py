"""Records the service stores and returns: threads, requests, runs and pages of them.

Their JSON fields are cut at `hitl.validation.MAX_DEPTH` as they are read (`Stored`, `StoredDict`):
a value stored nested deeper (by an older version, or by SQL) would otherwise make pydantic
fail to serialise the whole page that contains it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, Field

from hitl import validation
from hitl.priority import Priority

ThreadStatus = Literal["idle", "queued", "running", "interrupted", "completed", "failed"]
RequestState = Literal["pending", "responded", "resumed", "superseded", "expired", "cancelled"]
RunStatus = Literal["pending", "queued", "running", "done", "failed", "cancelled"]
RequestKind = Literal["interrupt", "external"]
NotificationStatus = Literal["pending", "sending", "sent", "failed"]

THREAD_STATUSES: tuple[str, ...] = ThreadStatus.__args__  # type: ignore[attr-defined]
REQUEST_STATES: tuple[str, ...] = RequestState.__args__  # type: ignore[attr-defined]
NOTIFICATION_STATUSES: tuple[str, ...] = NotificationStatus.__args__  # type: ignore[attr-defined]

T = TypeVar("T")

Stored = Annotated[Any, AfterValidator(validation.clip)]
StoredDict = Annotated[dict[str, Any], AfterValidator(validation.clip)]


class Thread(BaseModel):
    """A graph thread as the service tracks it (the graph's state lives in its checkpoints)."""

    thread_id: str
    # None for a thread created empty (the Agent Server API) until its first run
    graph: str | None = None
    status: ThreadStatus
    metadata: StoredDict = Field(default_factory=dict)
    error: StoredDict | None = None
    created_at: datetime
    updated_at: datetime


class ThreadWithValues(Thread):
    values: Stored = None
    # one more with every change of the row, in commit order (migration 0008)
    version: int = 0


class Request(BaseModel):
    """What a person is asked, and their answer: a pending interrupt of a thread (``kind``
    ``interrupt``), or a question an agent outside the service asked over REST (``external``:
    no thread; ``value`` holds its ``context``, and the answer goes to ``callback_webhook``)."""

    id: str
    kind: RequestKind = "interrupt"
    thread_id: str | None = None
    interrupt_id: str | None = None
    graph: str | None = None
    state: RequestState
    value: Stored = None
    response_schema: StoredDict | None = None
    response: Stored = None
    responded_by: str | None = None
    #: Whom ``responded_by`` answered for, standing in for them (`hitl.delegation`).
    responded_for: str | None = None
    responded_at: datetime | None = None
    closed_at: datetime | None = None
    workflow_id: str | None = None
    checkpoint_id: str | None = None
    callback_webhook: str | None = None
    #: Who created an external request (a user name or ``key:<name>``).
    created_by: str | None = None
    #: Its creator's `Principal.subject` (who may wait on it and withdraw it); not shown.
    created_by_subject: str | None = Field(None, exclude=True)
    callback_delivery_id: str | None = None
    callback_state: Literal["pending", "delivering", "succeeded", "failed"] | None = None
    title: str | None = None
    description: str | None = None
    metadata: StoredDict = Field(default_factory=dict)
    #: Who may answer: these users and members of these groups (and admins). Both empty: any
    #: responder.
    assignees: list[str] = Field(default_factory=list)
    assigned_groups: list[str] = Field(default_factory=list)
    #: When the request times out, and what happens then (see `hitl.deadlines`).
    deadline_at: datetime | None = None
    on_timeout: StoredDict | None = None
    #: Reminders before the deadline, as fractions of the time to it.
    reminders: list[float] = Field(default_factory=list)
    #: Times the deadline escalated the request (each time, a new deadline).
    escalations: int = 0
    #: Set when the deadline answered: ``default`` (its default value), ``expire_fail`` or
    #: ``expire_resume`` (the expiry marker; the thread fails or resumes with it).
    deadline_action: Literal["default", "expire_fail", "expire_resume"] | None = None
    #: Who asked (`hitl.four_eyes`): the user or API key that started the thread or created
    #: the external request; the user a graph or agent says it acts for; and whether they
    #: may not answer it.
    requested_by: str | None = None
    requested_by_subject: str | None = Field(None, exclude=True)
    on_behalf_of: str | None = None
    forbid_self_approval: bool = False
    #: How urgent it is (`hitl.priority`): the inbox sorts by it.
    priority: Priority = "normal"
    #: Quorum terms (`hitl.quorum`): several votes decide; None: one answer does.
    approval: StoredDict | None = None
    #: Who claimed it (`hitl.claims`) and until when their claim binds others.
    claimed_by: str | None = None
    claimed_by_subject: str | None = Field(None, exclude=True)
    claimed_at: datetime | None = None
    claim_expires_at: datetime | None = None
    #: The same as ``deadline_at`` (the name of the first API, for external requests).
    expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Run(BaseModel):
    """Queued work for a thread: a start (with the input), a resume (with the answers), the
    next turn's input, or a state update (the Agent Server API's, see migration 0012)."""

    id: int
    public_id: UUID = Field(default_factory=uuid4)
    thread_id: str
    kind: Literal["start", "resume", "input", "update"]
    input: Stored = None
    options: dict[str, Any] = Field(default_factory=dict)
    cancel: Literal["interrupt", "rollback"] | None = None
    status: RunStatus
    attempts: int
    lease_owner: str | None = None
    error: StoredDict | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Page(BaseModel, Generic[T]):
    """A page of a listing; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = None
