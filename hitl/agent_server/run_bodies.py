"""The bodies of the Agent Server API's run calls, as its clients send them.

Field names, defaults and choices are the Agent Server's (its OpenAPI document's
``RunCreateStateful``); what this service does not do is refused by name (`unsupported`) rather
than ignored, so a client learns it at once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Strategy = Literal["reject", "enqueue", "interrupt", "rollback"]
Durability = Literal["sync", "async", "exit"]
Breakpoints = Literal["*"] | list[str]


class Command(BaseModel):
    """LangGraph's ``Command``: ``resume`` answers the pending interrupts (through the same path
    as an answer in the inbox); ``update`` and ``goto`` start the thread's next turn."""

    model_config = ConfigDict(extra="forbid")

    resume: Any = None
    update: dict[str, Any] | list[Any] | None = None
    goto: str | list[str] | None = None


#: The Agent Server's stream modes; those this service does not stream are refused by name.
StreamModeName = Literal[
    "values",
    "updates",
    "messages-tuple",
    "custom",
    "tasks",
    "checkpoints",
    "debug",
    "messages",
    "events",
    "tools",
    "lifecycle",
]
UNSTREAMED = {
    "messages": "stream_mode 'messages' is not supported: use 'messages-tuple'",
    "events": "stream_mode 'events' is not supported",
    "tools": "stream_mode 'tools' is not supported",
    "lifecycle": "stream_mode 'lifecycle' is not supported",
}
#: What a background run (``runs.create``) records besides the modes asked for, so that a
#: joiner may ask for any of them: the modes that add little to a run's cost. ``tasks``,
#: ``checkpoints`` and ``debug`` repeat the whole state at each step: recorded only if asked.
BACKGROUND_MODES = ("values", "updates", "messages-tuple", "custom")


class RunCreate(BaseModel):
    """A run: ``input`` or ``command`` for a thread, with what is passed on to LangGraph."""

    # The clients send every field they know of; those not listed are refused by name below.
    model_config = ConfigDict(extra="allow")

    assistant_id: str = Field(min_length=1, max_length=200)
    input: Any = None
    command: Command | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = Field(None, max_length=2048)
    interrupt_before: Breakpoints | None = None
    interrupt_after: Breakpoints | None = None
    multitask_strategy: Strategy = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    durability: Durability | None = None
    # what a streamed run streams (`hitl.run_streams`); its chunks can always be resumed from
    # within the stream's window, so ``stream_resumable`` changes nothing
    stream_mode: StreamModeName | list[StreamModeName] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    feedback_keys: list[str] | None = None
    checkpoint_during: bool | None = None
    langsmith_tracer: Any = None
    strict_resume: bool | None = None

    @field_validator("config")
    @classmethod
    def _config(cls, config: dict[str, Any] | None) -> dict[str, Any] | None:
        configurable = (config or {}).get("configurable") or {}
        if not isinstance(configurable, dict):
            raise ValueError("configurable must be an object")
        return config

    @property
    def modes(self) -> list[str]:
        """The stream modes asked for (``values`` if none)."""
        asked = self.stream_mode or ["values"]
        return [asked] if isinstance(asked, str) else list(dict.fromkeys(asked))

    def stream(self, background: bool = False) -> dict[str, Any]:
        """What the runner streams of the run (`Run.options`' ``stream``): ``modes`` recorded
        (a background run's: `BACKGROUND_MODES` too), ``asked`` (what a join that names no
        modes sends)."""
        modes = self.modes
        recorded = list(dict.fromkeys([*modes, *BACKGROUND_MODES])) if background else modes
        return {"modes": recorded, "asked": modes, "subgraphs": bool(self.stream_subgraphs)}

    def unsupported(self) -> list[dict[str, Any]]:
        """The fields given that this service does not serve, each with why."""
        why = {
            "checkpoint": "running from an earlier checkpoint is not supported",
            "checkpoint_id": "running from an earlier checkpoint is not supported",
            "after_seconds": "delayed runs are not supported",
            "on_completion": "deleting threads when their run completes is not supported",
        }
        extra = self.model_extra or {}
        found = [
            {
                "loc": ["body", name],
                "msg": why.get(name, f"unknown field {name!r}"),
                "type": "not_supported" if name in why else "extra_forbidden",
            }
            for name, value in extra.items()
            if value is not None
        ]
        found += [
            {"loc": ["body", "stream_mode"], "msg": UNSTREAMED[mode], "type": "not_supported"}
            for mode in self.modes
            if mode in UNSTREAMED
        ]
        return found

    def options(self) -> dict[str, Any]:
        """What the runner passes on to LangGraph (`hitl.runner.run_config`)."""
        found: dict[str, Any] = {
            "assistant_id": self.assistant_id,
            "multitask_strategy": self.multitask_strategy,
        }
        for key in ("metadata", "config", "context", "interrupt_before", "interrupt_after"):
            if (value := getattr(self, key)) is not None:
                found[key] = value
        if self.durability is not None:
            found["durability"] = self.durability
        if self.command is not None and (self.command.update or self.command.goto):
            found["command"] = self.command.model_dump(exclude={"resume"}, exclude_none=True)
        return found


class StateUpdate(BaseModel):
    """``update_state``: values written as if ``as_node`` had returned them."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = Field(None, max_length=200)
    checkpoint_id: str | None = Field(None, max_length=200)
    checkpoint: dict[str, Any] | None = None
