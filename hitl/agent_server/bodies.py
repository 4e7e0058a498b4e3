"""Bodies the door accepts, with the Agent Server's field names (its OpenAPI's ``*Request``).

Unknown fields are refused (422 naming them) rather than ignored: a client that asks for
something this door does not do hears so. Fields the Agent Server knows and this door does not
do (``ttl``, ``supersteps``, ``extract``) are accepted here and answered 501 by the route,
naming the feature (`Unsupported`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from hitl.agent_server.mapping import AgentStatus
from hitl.api.bodies import ThreadId

SortOrder = Literal["asc", "desc"]
#: A field the Agent Server knows and this door does not do: accepted, answered 501 naming the
#: feature, and left out of the OpenAPI document (no operation of the service takes it).
Unsupported = SkipJsonSchema[Any]
#: Offset pagination reads and skips what it skips: deeper than this, filter instead.
MAX_OFFSET = 1_000_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssistantSearch(_Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["assistant_id", "created_at", "updated_at", "name", "graph_id"] | None = None
    sort_order: SortOrder | None = None
    select: list[str] | None = None


class AssistantCount(_Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None


class ThreadCreate(_Body):
    thread_id: ThreadId | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    ttl: Unsupported = None
    supersteps: Unsupported = None


class ThreadPatch(_Body):
    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl: Unsupported = None


ThreadField = Literal[
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "config",
    "status",
    "values",
    "interrupts",
    "error",
]


class ThreadCount(_Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: AgentStatus | None = None


class ThreadSearch(ThreadCount):
    ids: list[str] | None = Field(None, max_length=1000)
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] = (
        "created_at"
    )
    sort_order: SortOrder = "desc"
    select: list[ThreadField] | None = None
    extract: Unsupported = None


class CheckpointConfig(BaseModel):
    """Where a state is read: a checkpoint of the thread, or of a subgraph (``checkpoint_ns``)."""

    model_config = ConfigDict(extra="forbid")

    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None

    def configurable(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"thread_id"})


class StateAtCheckpoint(_Body):
    checkpoint: CheckpointConfig
    subgraphs: bool = False
    select: list[str] | None = None


class HistorySearch(_Body):
    limit: int = Field(10, ge=1, le=1000)
    before: CheckpointConfig | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: CheckpointConfig | None = None
    select: list[str] | None = None
