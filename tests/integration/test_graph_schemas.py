"""A graph's own ``response_schema`` that is not a usable JSON Schema (``interrupt(v,
response_schema={...})`` takes any dict, and LangGraph never checks answers against one): the
runner records the request without it, flagged in its metadata, and answers are taken as for a
value without a schema; a schema that fails only when an answer reaches it refuses that answer
with 422, never a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import pending, respond, settle, start


async def asked(client: httpx.AsyncClient, schema: Any) -> dict[str, Any]:
    thread_id = await start(client, "own_schema", {"schema": schema})
    assert (await settle(client, thread_id))["status"] == "interrupted"
    [request] = await pending(client, thread_id)
    return request


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": 5}, "type: 5 is not valid under any of the given schemas"),
        ({"$ref": "#/nowhere"}, "'/nowhere' does not exist"),
        ({"type": "object", "required": "name"}, "required: 'name' is not of type 'array'"),
    ],
)
async def test_an_unusable_schema_is_recorded_aside_and_answers_go_through(
    client: httpx.AsyncClient, schema: Any, problem: str
) -> None:
    request = await asked(client, schema)
    assert request["response_schema"] is None
    flagged = request["metadata"]["unusable_response_schema"]
    assert flagged["schema"] == schema and problem in flagged["problem"]
    page = await client.get(f"/requests/{request['id']}")
    assert page.status_code == 200  # the JSON editor, as for a value without a schema

    r = await respond(client, request["id"], {"anything": [1, 2]})
    assert r.status_code == 200, r.text
    thread = await settle(client, request["thread_id"])
    assert thread["status"] == "completed", thread
    assert thread["values"]["log"] == [{"anything": [1, 2]}]


async def test_a_schema_failing_only_at_an_answer_refuses_it_with_422(
    client: httpx.AsyncClient,
) -> None:
    # usable as far as the runner can try it: the broken part is reached only through "a"
    schema = {"type": "object", "properties": {"a": {"$ref": "#/broken"}}, "broken": {"type": 5}}
    request = await asked(client, schema)
    assert request["response_schema"] == schema and request["metadata"] == {}
    assert (await client.get(f"/requests/{request['id']}")).status_code == 200

    r = await respond(client, request["id"], {"a": 1})
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body", "response"] and problem["type"] == "schema"
    assert problem["msg"].startswith("the response schema cannot be evaluated: ")
    shown = (await client.get(f"/api/v1/requests/{request['id']}")).json()
    assert shown["state"] == "pending"

    r = await respond(client, request["id"], {})  # an answer that does not reach it
    assert r.status_code == 200, r.text
    assert (await settle(client, request["thread_id"]))["status"] == "completed"
