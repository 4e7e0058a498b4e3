"""A small MCP server that asks for input mid-call, for the elicitation tests.

Built with the official ``mcp`` SDK (`MCPServer`) and served over Streamable HTTP:
``python -m tests.support.mcp_server PORT``. Its tools ask the way a current server does
(protocol 2026-07-28): the question rides back on the ``tools/call`` result as an
``InputRequiredResult`` and the client calls again with the answer, which is what lets
langchain's MCP adapter turn it into a LangGraph ``interrupt()`` that a person answers later.

- ``book_table(restaurant)`` asks for a form (`Booking`: a name, a party size, a yes/no) and
  reports what it booked, or that the person declined or cancelled.
- ``connect_account(service)`` asks the person to visit a page (URL mode) and reports the
  outcome.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.types import ElicitRequest, ElicitRequestURLParams, InputRequiredResult
from pydantic import BaseModel, Field

#: Where ``connect_account`` sends the person: never fetched by the service, only shown.
CONNECT_URL = "https://accounts.example.com/connect?service="

server = MCPServer("hitl-test-elicitation")


class Booking(BaseModel):
    name: str = Field(description="Name for the reservation")
    party_size: int = Field(ge=1, le=12, description="How many people")
    terrace: bool = Field(default=False, description="Outside, if the weather allows")


def ask_booking(restaurant: str) -> Elicit[Booking]:
    return Elicit(f"Who is the table at {restaurant} for?", Booking)


@server.tool()
def book_table(
    restaurant: str,
    booking: Annotated[ElicitationResult[Booking], Resolve(ask_booking)],
) -> str:
    """Book a table: the person says for whom and how many."""
    if booking.action == "accept":
        b = booking.data
        where = " on the terrace" if b.terrace else ""
        return f"Booked {restaurant} for {b.name}, {b.party_size} people{where}."
    return f"No booking: the person chose {booking.action}."


@server.tool()
def connect_account(service: str, ctx: Context) -> str | InputRequiredResult:
    """Connect an account: the person finishes it on the service's own page."""
    answers = ctx.input_responses or {}
    answer: Any = answers.get("connect")
    if answer is None:
        return InputRequiredResult(
            input_requests={
                "connect": ElicitRequest(
                    params=ElicitRequestURLParams(
                        message=f"Sign in to {service} to connect it.",
                        url=CONNECT_URL + service,
                        elicitation_id=f"connect-{service}",
                    )
                )
            }
        )
    return f"Connect {service}: the person chose {answer.action}."


def main() -> None:
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))


if __name__ == "__main__":
    main()
