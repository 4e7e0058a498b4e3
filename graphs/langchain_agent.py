"""The ``refund_agent`` graph: a LangChain v1 agent whose tool calls wait for a person.

``create_agent`` builds a LangGraph graph; `langchain.agents.middleware.HumanInTheLoopMiddleware`
pauses it with ``interrupt()`` before ``issue_refund`` runs. The service serves it unchanged:
the pause becomes a request in the inbox whose value holds ``action_requests`` (the tool calls)
and ``review_configs`` (the decisions allowed), and the answer is the middleware's
``{"decisions": [...]}``, one decision per tool call::

    {"decisions": [{"type": "approve"}]}
    {"decisions": [{"type": "edit", "edited_action": {"name": "issue_refund", "args": {...}}}]}
    {"decisions": [{"type": "reject", "message": "why"}]}

``refund_agent_per_call`` is the same agent with the middleware's ``per_call`` mode: one
interrupt per tool call, ``{"type": "tool_approval", "name", "args", ...}``, answered with one
decision (not a list), which LangGraph checks against the tool's own argument schema.

The chat model is `ScriptedRefundModel`, a deterministic stand-in (no network, no API key) that
reads "refund 120 EUR on order A-1001" and calls the tool; swap in a real model to get a real
agent. Start a thread with ``{"messages": [{"type": "human", "content": "..."}]}``.

Requires ``langchain>=1``; not imported by ``graphs/__init__.py``: load it with
``HITL_GRAPHS=graphs,graphs.langchain_agent``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain.agents.middleware.human_in_the_loop import InterruptMode
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool
from langgraph.graph import StateGraph

from hitl.registry import register_graph

TOOL_NAME = "issue_refund"
REFUND_ASK = re.compile(
    r"refund\s+(?P<amount>\d+(?:\.\d{1,2})?)\s*(?:EUR|€)?\s+(?:on|for)\s+order\s+(?P<order>[\w-]+)",
    re.IGNORECASE,
)
SYSTEM_PROMPT = "You issue refunds for the shop. Every refund is checked by a person first."


@tool(TOOL_NAME)
def issue_refund(order_id: str, amount: float) -> str:
    """Refund ``amount`` euros on order ``order_id``."""
    return f"Refunded {amount:.2f} EUR on order {order_id}."


def reply(messages: Sequence[BaseMessage]) -> AIMessage:
    """The scripted model's next message for the conversation so far.

    After a tool result: report it (its last line, after any note the middleware added). After
    a request that names an amount and an order: call ``issue_refund``. Otherwise: say what it
    can do. The tool call id depends only on the conversation, so a re-run asks the same thing.
    """
    last = messages[-1] if messages else None
    if isinstance(last, ToolMessage):
        lines = str(last.content).strip().splitlines()
        return AIMessage(content=f"Done: {lines[-1] if lines else 'no result'}")
    match = REFUND_ASK.search(str(last.content)) if last is not None else None
    if match is None:
        return AIMessage(content="I issue refunds: ask me to 'refund 20 EUR on order A-1'.")
    args = {"order_id": match["order"], "amount": float(match["amount"])}
    call_id = f"call_{len(messages)}"
    return AIMessage(content="", tool_calls=[{"name": TOOL_NAME, "args": args, "id": call_id}])


class ScriptedRefundModel(BaseChatModel):
    """A chat model that follows `reply`: deterministic and offline, for demos and tests."""

    @property
    def _llm_type(self) -> str:
        return "scripted-refunds"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self  # the script knows its one tool

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=reply(messages))])


def review_refunds(mode: InterruptMode = "batched") -> HumanInTheLoopMiddleware:
    """The middleware: every ``issue_refund`` call waits for approve, edit or reject."""
    return HumanInTheLoopMiddleware(
        interrupt_on={
            TOOL_NAME: {
                "allowed_decisions": ["approve", "edit", "reject"],
                "description": "Refund requested by the assistant: check the order and amount",
            }
        },
        interrupt_mode=mode,
    )


@register_graph("refund_agent", description="A LangChain agent whose refunds a person approves.")
def refund_agent() -> StateGraph[Any]:
    """The agent's graph builder; the service compiles it with its own checkpointer."""
    agent = create_agent(
        ScriptedRefundModel(),
        [issue_refund],
        system_prompt=SYSTEM_PROMPT,
        middleware=[review_refunds()],
        name="refund_agent",
    )
    builder: StateGraph[Any] = agent.builder
    return builder


@register_graph(
    "refund_agent_per_call",
    description="The refund agent, asking about each tool call on its own (per_call mode).",
)
def refund_agent_per_call() -> StateGraph[Any]:
    agent = create_agent(
        ScriptedRefundModel(),
        [issue_refund],
        system_prompt=SYSTEM_PROMPT,
        middleware=[review_refunds("per_call")],
        name="refund_agent_per_call",
    )
    builder: StateGraph[Any] = agent.builder
    return builder
