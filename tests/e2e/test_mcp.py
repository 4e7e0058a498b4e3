"""The MCP server at /mcp, driven by the official `mcp` client over Streamable HTTP against a
service process: its tools, a question answered through the REST API while the tool waits,
the pending-then-poll path, a key without the scope refused, and Claude Code's permission
prompts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from hitl.launcher import ServiceProcess
from tests.support import auth


@asynccontextmanager
async def mcp_session(url: str, key: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def one_pending(admin: httpx.AsyncClient) -> dict[str, Any]:
    """The one pending external request, once it exists."""
    deadline = time.monotonic() + 60
    while True:
        r = await admin.get("/api/v1/requests", params={"kind": "external", "state": "pending"})
        if items := r.json()["items"]:
            [request] = items
            return dict(request)
        assert time.monotonic() < deadline, "no request was made"
        await asyncio.sleep(0.1)


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    found: dict[str, Any] = result.structured_content
    assert json.loads(result.content[0].text) == found
    return found


async def test_ask_human_is_answered_by_a_person_while_the_call_waits(
    make_server: Callable[..., ServiceProcess], http: Callable[[str], httpx.AsyncClient]
) -> None:
    server = make_server().start()
    server.wait_ready()
    admin = http(server.url)
    key = await auth.make_key(admin, "requests:write", name="coding-agent")
    schema = {"type": "object", "properties": {"env": {"enum": ["staging", "prod"]}}}
    async with mcp_session(server.url, key) as session:
        listed = await session.list_tools()
        names = {t.name: t for t in listed.tools}
        assert set(names) == {"ask_human", "request_approval", "get_answer", "permission_prompt"}
        assert "message" in names["ask_human"].input_schema["required"]

        call = asyncio.create_task(
            session.call_tool(
                "ask_human",
                {"message": "Which environment?", "response_schema": schema, "groups": []},
            )
        )
        request = await one_pending(admin)
        assert request["title"] == "Which environment?"
        assert request["value"] == {"message": "Which environment?"}
        assert request["created_by"] == "key:coding-agent"  # an ordinary request, by the key
        url = f"/api/v1/requests/{request['id']}/respond"
        bad = await admin.post(url, json={"response": {"env": "moon"}})
        assert bad.status_code == 422  # the schema the agent gave holds
        r = await admin.post(url, json={"response": {"env": "prod"}})
        assert r.status_code == 200, r.text
        found = structured(await call)
        assert found["status"] == "answered" and found["response"] == {"env": "prod"}
        assert found["request_id"] == request["id"] and found["responded_by"] == "key:tests"
        assert found["url"].endswith(f"/requests/{request['id']}")

        # a bad argument is a tool error naming it; nothing is asked
        refused = await session.call_tool("ask_human", {"message": "", "groups": ["x"]})
        assert refused.is_error and "message" in refused.content[0].text
        unknown = await session.call_tool("ask_human", {"message": "hi", "groups": ["nobody"]})
        assert unknown.is_error and "no group 'nobody'" in unknown.content[0].text

    audit = await admin.get("/api/v1/audit", params={"request_id": request["id"]})
    assert ("key:coding-agent", "request.create") in [
        (e["actor"], e["action"]) for e in audit.json()["items"]
    ]


async def test_a_call_that_outlasts_its_wait_is_pending_then_polled(
    make_server: Callable[..., ServiceProcess], http: Callable[[str], httpx.AsyncClient]
) -> None:
    server = make_server(HITL_MCP_WAIT_SECONDS="0.5").start()
    server.wait_ready()
    admin = http(server.url)
    key = await auth.make_key(admin, "requests:write", name="agent")
    other = await auth.make_key(admin, "requests:write", name="other-agent")
    async with mcp_session(server.url, key) as session:
        found = structured(
            await session.call_tool(
                "request_approval",
                {"action": "drop table users", "details": {"db": "prod"}, "reason": "cleanup"},
            )
        )
        assert found["status"] == "pending" and "response" not in found
        request_id = found["request_id"]
        shown = (await admin.get(f"/api/v1/requests/{request_id}")).json()
        assert shown["title"] == "Approve: drop table users"
        assert shown["value"] == {
            "action": "drop table users",
            "details": {"db": "prod"},
            "reason": "cleanup",
        }
        again = structured(await session.call_tool("get_answer", {"request_id": request_id}))
        assert again["status"] == "pending"

        # only its creator may poll it
        async with mcp_session(server.url, other) as stranger:
            refused = await stranger.call_tool("get_answer", {"request_id": request_id})
            assert refused.is_error and "creator" in refused.content[0].text

        answer = {"approved": False, "comment": "not on a Friday"}
        r = await admin.post(f"/api/v1/requests/{request_id}/respond", json={"response": answer})
        assert r.status_code == 200, r.text
        done = structured(await session.call_tool("get_answer", {"request_id": request_id}))
        assert done["status"] == "answered" and done["response"] == answer


async def test_a_key_without_the_scope_is_refused(
    make_server: Callable[..., ServiceProcess], http: Callable[[str], httpx.AsyncClient]
) -> None:
    server = make_server().start()
    server.wait_ready()
    admin = http(server.url)
    reader = await auth.make_key(admin, "requests:read", name="reader")
    with pytest.raises(BaseExceptionGroup) as refused:
        async with mcp_session(server.url, reader):
            pass
    assert refused.group_contains(MCPError, depth=None)
    r = await http(server.url).post("/mcp", json={}, headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and "requests:write" in r.json()["detail"]
    r = await http(server.url).post("/mcp", json={}, headers={"Authorization": ""})
    assert r.status_code == 401
    r = await admin.get("/api/v1/requests", params={"kind": "external"})
    assert r.json()["items"] == []


async def test_claude_codes_permission_prompts_are_decided_in_the_inbox(
    make_server: Callable[..., ServiceProcess], http: Callable[[str], httpx.AsyncClient]
) -> None:
    server = make_server().start()
    server.wait_ready()
    admin = http(server.url)
    key = await auth.make_key(admin, "requests:write", name="claude")
    asked = {"tool_name": "Bash", "input": {"command": "rm -rf build"}, "tool_use_id": "tu_1"}
    async with mcp_session(server.url, key) as session:
        # allowed, with the input the reviewer edited
        call = asyncio.create_task(session.call_tool("permission_prompt", asked))
        request = await one_pending(admin)
        assert request["title"] == "Allow Bash: rm -rf build"
        assert request["value"] == asked | {"input": {"command": "rm -rf build"}}
        edited = {"behavior": "allow", "updatedInput": {"command": "rm -rf build/tmp"}}
        r = await admin.post(f"/api/v1/requests/{request['id']}/respond", json={"response": edited})
        assert r.status_code == 200, r.text
        result = await call
        assert not result.is_error
        assert json.loads(result.content[0].text) == edited

        # denied, with the reviewer's message for the agent
        call = asyncio.create_task(session.call_tool("permission_prompt", asked))
        request = await one_pending(admin)
        no = {"behavior": "deny", "message": "not the build folder"}
        r = await admin.post(f"/api/v1/requests/{request['id']}/respond", json={"response": no})
        assert r.status_code == 200, r.text
        assert json.loads((await call).content[0].text) == no


async def test_an_undecided_permission_prompt_is_withdrawn_and_denied(
    make_server: Callable[..., ServiceProcess], http: Callable[[str], httpx.AsyncClient]
) -> None:
    server = make_server(HITL_MCP_PERMISSION_WAIT_SECONDS="0.5").start()
    server.wait_ready()
    admin = http(server.url)
    key = await auth.make_key(admin, "requests:write", name="claude")
    async with mcp_session(server.url, key) as session:
        result = await session.call_tool(
            "permission_prompt", {"tool_name": "Write", "input": {"file_path": "/etc/hosts"}}
        )
    answer = json.loads(result.content[0].text)
    assert answer["behavior"] == "deny" and "withdrawn" in answer["message"]
    r = await admin.get("/api/v1/requests", params={"kind": "external"})
    [request] = r.json()["items"]
    assert request["state"] == "cancelled" and request["id"] in answer["message"]
    late = await admin.post(
        f"/api/v1/requests/{request['id']}/respond", json={"response": {"behavior": "allow"}}
    )
    assert late.status_code == 409
