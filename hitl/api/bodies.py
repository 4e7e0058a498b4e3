"""Bodies the API accepts and returns, beyond the stored records of `hitl.models`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hitl.models import Stored, StoredDict, ThreadStatus

#: A thread id a caller chooses: what fits in a URL path segment and a log line as it is.
ThreadId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")
]


class ThreadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graph: str = Field(description="Name of a registered graph.")
    input: dict[str, Any] = Field(default_factory=dict, description="The graph's input.")
    thread_id: ThreadId | None = Field(
        None,
        description="Your own id for the thread; a UUID is made when omitted.",
    )
    metadata: dict[str, Any] | None = None


class ThreadCreated(BaseModel):
    thread_id: str
    status: ThreadStatus


class InterruptPublic(BaseModel):
    interrupt_id: str
    request_id: str
    value: Stored = None
    response_schema: StoredDict | None = None


class ThreadDetail(BaseModel):
    thread_id: str
    # None for a thread created empty through /lg until its first run
    graph: str | None = None
    status: ThreadStatus
    values: StoredDict | None = None
    interrupts: list[InterruptPublic]
    error: StoredDict | None = None
    metadata: StoredDict = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class ThreadResume(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resume: dict[str, Any] = Field(description="Answers by interrupt id.")


class RequestRespond(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: Any = Field(description="The answer; validated against the response schema.")
