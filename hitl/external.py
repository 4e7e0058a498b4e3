"""External requests: a question from an agent outside the service, answered by a person and
returned to the agent by a signed webhook to its registered ``callback_webhook``.

Everything is checked before anything is written: the callback must be the URL of a registered,
enabled endpoint (its secret signs the callback), the response schema must be a JSON Schema.
Answers go through `hitl.requests.respond` like any other request.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hitl import errors, requests
from hitl.models import Request
from hitl.schemas import check_schema
from hitl.webhooks import endpoints


class ExternalRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str = Field(
        min_length=1, max_length=200, description="The agent's id for its run (a thread id)."
    )
    checkpoint_id: str | None = Field(
        None, max_length=200, description="Where the agent's run stopped, if it resumes there."
    )
    callback_webhook: str = Field(description="URL of a registered, enabled webhook endpoint.")
    context: Any = Field(description="What the person is shown (stored as the request's value).")
    title: str | None = Field(None, max_length=500)
    description: str | None = Field(None, max_length=20_000)
    response_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema the answer must match."
    )
    timeout_seconds: float | None = Field(
        None, gt=0, le=365 * 86400, description="Unanswered this long, the request expires."
    )
    metadata: dict[str, Any] | None = None

    @field_validator("callback_webhook")
    @classmethod
    def _url(cls, value: str) -> str:
        return endpoints.check_url(value)


async def create(
    conn: AsyncConnection[Any], body: ExternalRequestCreate, actor: str = "api"
) -> Request:
    """Validate (422 naming the field, nothing written), then record the request."""
    problems: list[dict[str, Any]] = []
    if body.response_schema is not None:
        problems += check_schema(body.response_schema, ("body", "response_schema"))
    endpoint_id = await endpoints.callback_endpoint(conn, body.callback_webhook)
    if endpoint_id is None:
        problems.append(
            {
                "loc": ["body", "callback_webhook"],
                "msg": "no enabled webhook endpoint is registered with this URL; "
                "register it first with POST /api/v1/webhooks",
                "type": "value_error",
            }
        )
    if problems:
        raise errors.InvalidInput(problems)
    assert endpoint_id is not None
    return await requests.create_external(
        conn,
        workflow_id=body.workflow_id,
        checkpoint_id=body.checkpoint_id,
        callback_endpoint_id=endpoint_id,
        callback_webhook=body.callback_webhook.strip(),
        context=body.context,
        title=body.title,
        description=body.description,
        response_schema=body.response_schema,
        timeout_seconds=body.timeout_seconds,
        metadata=body.metadata,
        actor=actor,
    )
