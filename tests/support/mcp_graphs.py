"""A graph that calls one MCP tool through langchain's MCP adapter (``langchain.mcp``), so that
the server's elicitation becomes an interrupt a person answers in the inbox.
``HITL_GRAPHS=graphs,tests.support.graphs,tests.support.mcp_graphs``.

Start a thread with ``{"mcp_url": "http://127.0.0.1:<port>/mcp", "tool": "book_table",
"arguments": {"restaurant": "..."}}`` against `tests.support.mcp_server`; the tool's text
result lands in ``result``. LangGraph runs the node again from the top when it resumes: the
adapter lists the tools and calls the tool again, and the server asks the same question, which
the interrupt now answers from the person's response.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core._api import suppress_langchain_beta_warning
from langgraph.graph import START, StateGraph

from hitl import register_graph

with suppress_langchain_beta_warning():  # langchain.mcp says once that it is in beta
    from langchain.mcp import MCPAdapter


class McpToolState(TypedDict, total=False):
    mcp_url: str
    tool: str
    arguments: dict[str, Any]
    result: str


async def call_tool(state: McpToolState) -> dict[str, Any]:
    tools = {t.name: t for t in await MCPAdapter(state["mcp_url"]).list_tools()}
    blocks = await tools[state["tool"]].ainvoke(state.get("arguments", {}))
    text = [b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
    return {"result": "\n".join(text)}


@register_graph("mcp_tool", description="Calls one MCP tool; its questions go to people.")
def mcp_tool() -> StateGraph[Any]:
    g = StateGraph(McpToolState)
    g.add_node("call_tool", call_tool)
    g.add_edge(START, "call_tool")
    return g
