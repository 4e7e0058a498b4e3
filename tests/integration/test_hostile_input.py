"""Hostile input gets a 4xx naming the problem, never a 5xx or a stalled event loop.

Depth bombs on every route that takes a JSON body, regular expressions that backtrack
exponentially in a response schema, tampered cursors, oversized and chunked bodies, the NUL
character, and values only a graph can store (nested deeper than pydantic serialises).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hitl import errors, validation
from hitl.config import Settings
from tests.integration.test_webhooks import register
from tests.support import api, auth
from tests.support.api import GRAPH_MODULES, b64

HOOK = "https://agent.example.com/hook"
EVIL = "^(a+)+$"  # Python's re takes 2^n steps on "a" * n + "!"
EVIL_TEXT = "a" * 64 + "!"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_delivery": False,
            "graphs": GRAPH_MODULES + ",tests.support.hostile_graphs",
            "max_body_bytes": 200_000,
        }
    )


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def deep_object(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def external(client: httpx.AsyncClient, **extra: Any) -> httpx.Response:
    await register(client, HOOK, [])
    body = {"workflow_id": "wf", "callback_webhook": HOOK, "context": {"q": 1}, **extra}
    return await client.post("/api/v1/requests", json=body)


def code_schema(pattern: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": pattern}},
        "required": ["code"],
    }


def locs(response: httpx.Response) -> list[list[Any]]:
    return [d["loc"] for d in response.json()["detail"]]


# -- depth -------------------------------------------------------------------------------------


async def test_a_deep_metadata_is_refused_and_listings_still_answer(
    client: httpx.AsyncClient,
) -> None:
    body = {"graph": "approval", "input": {}, "metadata": {"x": deep_object(600)}}
    r = await client.post("/api/v1/threads", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["type"] == "json_depth"
    assert detail["loc"][:4] == ["body", "metadata", "x", "a"]
    assert "64 levels" in detail["msg"]
    listed = await client.get("/api/v1/threads")
    assert listed.status_code == 200 and listed.json()["items"] == []  # nothing stored

    r = await external(client, context=deep_object(600))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "context", "a"]
    pending = await client.get("/api/v1/requests", params={"state": "pending"})
    assert pending.status_code == 200 and pending.json()["items"] == []


async def test_nesting_up_to_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    # the body and "metadata" are two levels: 62 more make 64
    body = {"graph": "approval", "input": {}, "metadata": {"x": deep_object(62)}}
    r = await client.post("/api/v1/threads", json=body)
    assert r.status_code == 202, r.text
    body["metadata"] = {"x": deep_object(63)}
    assert (await client.post("/api/v1/threads", json=body)).status_code == 422
    listed = await client.get("/api/v1/threads")
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1


async def test_every_json_route_refuses_a_depth_bomb(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    routes = [
        (method, path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert len(routes) >= 10
    bomb = '{"x":' + "[" * 5000 + "]" * 5000 + "}"  # deeper than json.loads itself parses
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
        for content_type in ("application/json", None):
            headers = {"content-type": content_type} if content_type else {}
            r = await client.request(method, url, content=bomb, headers=headers)
            assert r.status_code == 422, (method, path, r.text)
            assert r.json()["detail"][0]["type"] == "json_depth", (method, path)
            assert r.json()["detail"][0]["loc"][:2] == ["body", "x"]


async def test_brackets_inside_strings_do_not_count(client: httpx.AsyncClient) -> None:
    body = {"graph": "approval", "input": {}, "metadata": {"text": "[{" * 5000 + '\\"[['}}
    r = await client.post("/api/v1/threads", json=body)
    assert r.status_code == 202, r.text


async def test_the_depth_scan_is_linear_in_unterminated_strings(
    client: httpx.AsyncClient,
) -> None:
    # every quote opens a string that never ends: a scan that retried from each one would
    # take minutes on this body
    body = b"[" * 70 + b'"\\' * 60_000
    r = await client.post("/api/v1/threads", content=body)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_depth"
    r = await client.get("/healthz")
    assert r.status_code == 200


async def test_a_deep_form_field_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/login", data={"username": "x", "password": "[" * 5000})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:2] == ["body", "password"]


async def test_a_deep_answer_is_refused_wherever_it_comes_from(client: httpx.AsyncClient) -> None:
    # the web UI parses JSON fields from form text: the answer check bounds depth itself
    with pytest.raises(errors.ResponseInvalid) as raised:
        validation.validate_response(None, deep_object(200), ("body", "response"))
    assert raised.value.detail[0]["type"] == "json_depth"


async def test_a_graph_that_stores_deep_values_breaks_no_listing(client: httpx.AsyncClient) -> None:
    # the checkpointer stores at most 255 levels; pydantic serialises a page of ~250
    thread_id = await api.start(client, "deep", {"depth": 253})
    thread = await api.settle(client, thread_id)
    assert thread["status"] == "interrupted", thread
    assert validation.CUT in json.dumps(thread["values"])
    for params in ({}, {"state": "pending"}):
        r = await client.get("/api/v1/requests", params=params)
        assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert validation.CUT in json.dumps(item["value"])
    assert validation.depth(item["value"], 1000) <= validation.MAX_DEPTH
    r = await client.get("/api/v1/threads")
    assert r.status_code == 200 and [t["thread_id"] for t in r.json()["items"]] == [thread_id]
    r = await client.get(f"/api/v1/requests/{item['id']}")
    assert r.status_code == 200


async def test_stored_values_are_cut_when_read(client: httpx.AsyncClient) -> None:
    """A row stored before the limits (or by SQL) still lists."""
    thread_id = await api.start(client, "approval", {})
    await api.settle(client, thread_id)
    async with client.service.pool.connection() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            "UPDATE hitl_threads SET metadata = %s::jsonb WHERE thread_id = %s",
            (json.dumps({"x": deep_object(400)}), thread_id),
        )
        await conn.execute(
            "UPDATE hitl_requests SET value = %s::jsonb WHERE thread_id = %s",
            (json.dumps(deep_object(400)), thread_id),
        )
    for url in (
        "/api/v1/threads",
        "/api/v1/requests?state=pending",
        f"/api/v1/threads/{thread_id}",
    ):
        r = await client.get(url)
        assert r.status_code == 200, (url, r.text)
        assert validation.CUT in r.text


# -- regular expressions ---------------------------------------------------------------------


async def test_a_backtracking_pattern_is_evaluated_in_linear_time(
    client: httpx.AsyncClient,
) -> None:
    r = await external(client, response_schema=code_schema(EVIL))
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]

    async def answer() -> httpx.Response:
        return await api.respond(client, request_id, {"code": EVIL_TEXT})

    async def health() -> httpx.Response:
        return await client.get("/healthz")

    answered, alive = await asyncio.gather(answer(), health())
    assert alive.status_code == 200
    assert answered.status_code == 422
    assert answered.json()["detail"][0]["loc"] == ["body", "response", "code"]
    ok = await api.respond(client, request_id, {"code": "aaaa"})
    assert ok.status_code == 200, ok.text


async def test_a_form_answer_is_checked_in_linear_time_too(
    client: httpx.AsyncClient, client_for: Any
) -> None:
    r = await external(client, response_schema=code_schema(EVIL))
    request_id = r.json()["id"]
    browser: httpx.AsyncClient = client_for()
    csrf = await auth.sign_in(browser, auth.ADMIN_USER, auth.ADMIN_PASSWORD)
    answered = await browser.post(
        f"/requests/{request_id}/answer", data={"_csrf": csrf, "code": EVIL_TEXT}
    )
    assert answered.status_code == 422
    assert "does not match" in answered.text
    assert (await client.get(f"/api/v1/requests/{request_id}")).json()["state"] == "pending"


async def test_pattern_properties_are_evaluated_in_linear_time(client: httpx.AsyncClient) -> None:
    schema = {
        "type": "object",
        "patternProperties": {EVIL: {"type": "string"}},
        "additionalProperties": False,
    }
    r = await external(client, response_schema=schema)
    assert r.status_code == 201, r.text
    answered = await api.respond(client, r.json()["id"], {EVIL_TEXT: "x"})
    assert answered.status_code == 422
    assert "does not match any of the regexes" in answered.text
    assert (await api.respond(client, r.json()["id"], {"aaa": "x"})).status_code == 200


async def test_a_default_answer_is_checked_in_linear_time(client: httpx.AsyncClient) -> None:
    r = await external(
        client,
        response_schema=code_schema(EVIL),
        on_timeout={"action": "default", "value": {"code": EVIL_TEXT}},
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "on_timeout", "value", "code"]]


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        (code_schema(r"^(a)\1$"), ["properties", "code", "pattern"]),
        (code_schema("^(?=a)"), ["properties", "code", "pattern"]),
        (
            {"type": "object", "patternProperties": {"(?<!x)y": {}}},
            ["patternProperties", "(?<!x)y"],
        ),
        (
            {"type": "array", "items": {"anyOf": [{"type": "string", "pattern": "a{1001}"}]}},
            ["items", "anyOf", 0, "pattern"],
        ),
        (
            {"patternProperties": {"a": {}}, "unevaluatedProperties": False},
            [],
        ),
        ({"$ref": "#"}, []),
        ({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, []),
        ({"$ref": "https://example.com/schema.json"}, []),  # never fetched
        ({"$ref": "#/nowhere"}, []),
    ],
)
async def test_patterns_re2_cannot_run_are_refused_at_creation(
    client: httpx.AsyncClient, schema: dict[str, Any], where: list[Any]
) -> None:
    r = await external(client, response_schema=schema)
    assert r.status_code == 422, r.text
    assert locs(r) == [["body", "response_schema", *where]]
    assert (await client.get("/api/v1/requests")).json()["items"] == []


async def test_a_ref_loop_reached_only_by_the_answer_gets_422(client: httpx.AsyncClient) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/loop"}},
        "$defs": {"loop": {"$ref": "#/$defs/loop"}},
    }
    r = await external(client, response_schema=schema)
    assert r.status_code == 201, r.text
    answered = await api.respond(client, r.json()["id"], {"a": 1})
    assert answered.status_code == 422
    assert "refers to itself" in answered.json()["detail"][0]["msg"]


async def test_a_graph_pattern_re2_cannot_run_is_recorded_and_not_checked(
    client: httpx.AsyncClient,
) -> None:
    thread_id = await api.start(client, "deep", {"pattern": r"^(a)\1$"})
    thread = await api.settle(client, thread_id)
    assert thread["status"] == "interrupted", thread
    (pending,) = await api.pending(client, thread_id)
    assert pending["response_schema"]["properties"]["code"]["pattern"] == r"^(a)\1$"
    assert (await api.respond(client, pending["id"], {})).status_code == 422  # the rest holds
    r = await api.respond(client, pending["id"], {"code": "xyz"})
    assert r.status_code == 200, r.text


async def test_a_graph_backtracking_pattern_runs_on_re2(client: httpx.AsyncClient) -> None:
    thread_id = await api.start(client, "deep", {"pattern": EVIL})
    await api.settle(client, thread_id)
    (pending,) = await api.pending(client, thread_id)
    r = await api.respond(client, pending["id"], {"code": EVIL_TEXT})
    assert r.status_code == 422 and locs(r) == [["body", "response", "code"]]


# -- cursors -----------------------------------------------------------------------------------


TAMPERED = [
    "!!!",
    "a",
    b64(b"\xff\xfe"),
    b64(b"[1,2,3]"),
    b64(b'["x"]'),
    b64(b'[1,"a"]'),
    b64(b'{"a":1,"b":2}'),
    b64(b'["2024-01-01T00:00:00+00:00",5]'),
    b64(b'["2024-01-01T00:00:00+00:00","a\\u0000b"]'),
    b64(b'["2024-01-01T00:00:00","00000000-0000-0000-0000-000000000000"]'),
    b64(b'["nonsense","00000000-0000-0000-0000-000000000000"]'),
    b64(b"[1e999999,2]"),
    b64(b"[" + b"9" * 5000 + b',"x"]'),
    b64(b"[" * 700 + b"]" * 700),
    b64(b'["' + b"x" * 2000 + b'","y"]'),
]
NOT_A_UUID = b64(b'["2024-01-01T00:00:00+00:00","not-a-uuid"]')  # fine for threads only
LISTINGS = ["/api/v1/threads", "/api/v1/requests", "/api/v1/webhooks", "/api/v1/audit"]


async def test_tampered_cursors_get_422(client: httpx.AsyncClient) -> None:
    endpoint = await client.post("/api/v1/webhooks", json={"url": HOOK, "events": []})
    listings = [*LISTINGS, f"/api/v1/webhooks/{endpoint.json()['id']}/deliveries"]
    for url in listings:
        by_uuid = url not in ("/api/v1/threads", "/api/v1/audit")
        for cursor in [*TAMPERED, NOT_A_UUID] if by_uuid else TAMPERED:
            r = await client.get(url, params={"cursor": cursor})
            assert r.status_code == 422, (url, cursor, r.text)
            assert locs(r) == [["query", "cursor"]]
    r = await client.get("/api/v1/threads", params={"cursor": NOT_A_UUID})
    assert r.status_code == 200


async def test_the_ui_restarts_from_the_top_on_a_tampered_cursor(
    client_for: Any,
) -> None:
    browser: httpx.AsyncClient = client_for()
    await auth.sign_in(browser, auth.ADMIN_USER, auth.ADMIN_PASSWORD)
    for path, params in (("/", {}), ("/", {"q": "x"}), ("/threads", {})):
        for cursor in TAMPERED if path == "/threads" else [*TAMPERED, NOT_A_UUID]:
            r = await browser.get(path, params={**params, "cursor": cursor})
            assert r.status_code == 303, (path, cursor, r.status_code)
            assert "cursor" not in r.headers["location"]


# -- sizes and NUL ----------------------------------------------------------------------------


async def test_a_body_over_the_limit_gets_413_chunked_or_not(client: httpx.AsyncClient) -> None:
    big = json.dumps({"graph": "approval", "input": {"pad": "x" * 300_000}}).encode()
    r = await client.post(
        "/api/v1/threads", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413

    async def chunks(body: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(body), 16_384):
            yield body[i : i + 16_384]

    r = await client.post(
        "/api/v1/threads", content=chunks(big), headers={"content-type": "application/json"}
    )
    assert "content-length" not in r.request.headers  # sent chunked
    assert r.status_code == 413, r.text
    assert "limit of 200000 bytes" in r.json()["detail"]
    small = json.dumps({"graph": "approval", "input": {"pad": "x" * 100_000}}).encode()
    r = await client.post(
        "/api/v1/threads", content=chunks(small), headers={"content-type": "application/json"}
    )
    assert r.status_code == 202, r.text
    assert len((await client.get("/api/v1/threads")).json()["items"]) == 1


async def test_the_nul_character_is_refused_everywhere(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/audit", params={"actor": "a\x00b"})
    assert r.status_code == 422 and locs(r) == [["query", "actor"]]
    r = await client.get("/api/v1/threads/a%00b")
    assert r.status_code == 422 and locs(r) == [["path"]]
    body = {"graph": "approval", "input": {}, "metadata": {"k": ["ok", "a\x00b"]}}
    r = await client.post("/api/v1/threads", json=body)
    assert r.status_code == 422 and locs(r) == [["body", "metadata", "k", 1]]
    r = await client.post("/login", data={"username": "a\x00", "password": "x"})
    assert r.status_code == 422 and locs(r) == [["body", "username"]]
    # an escaped backslash before "u0000" is text, not NUL
    body["metadata"] = {"k": "\\u0000"}
    assert (await client.post("/api/v1/threads", json=body)).status_code == 202


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1e999", "finite"),
        ("-Infinity", "finite"),
        ("NaN", "finite"),
        ("1" + "0" * 400 + ".5", "finite"),
        ('"\\ud800"', "surrogate"),
        ('{"a\\u0000": 1}', "NUL"),
        ("9" * 5000, "digits"),
    ],
)
async def test_json_postgres_cannot_store_is_refused(
    client: httpx.AsyncClient, value: str, problem: str
) -> None:
    raw = '{"graph": "approval", "input": {}, "metadata": {"x": [1, ' + value + "]}}"
    r = await client.post(
        "/api/v1/threads", content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert problem in r.json()["detail"][0]["msg"]
    if problem != "digits":
        assert locs(r)[0][:4] == ["body", "metadata", "x", 1]
    assert (await client.get("/api/v1/threads")).json()["items"] == []


async def test_a_body_that_is_not_utf8_gets_422(client: httpx.AsyncClient) -> None:
    for headers in ({"content-type": "application/json"}, {}):
        r = await client.post("/api/v1/threads", content=b'{"graph": "\xff\xfe"}', headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["type"] == "json_invalid"


async def test_a_graph_value_postgres_cannot_store_is_scrubbed(client: httpx.AsyncClient) -> None:
    thread_id = await api.start(client, "deep", {"unstorable": True})
    thread = await api.settle(client, thread_id)
    assert thread["status"] == "interrupted", thread
    assert thread["values"]["deep"] == {
        "nan": "nan",
        "inf": ["inf"],
        "nul\ufffd": "a\ufffd\ufffd",
    }
