"""The REST contract's edges: bad input gets a clear 4xx and changes nothing."""

from __future__ import annotations

import json
import re

import httpx
import psycopg
import pytest

from hitl.service import Service
from tests.support.api import pending, settle, start


async def _counts(service: Service) -> tuple[int, int, int]:
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM hitl_threads) AS t,"
            " (SELECT count(*) FROM hitl_runs) AS r,"
            " (SELECT count(*) FROM hitl_requests) AS q"
        )
        row = await cur.fetchone()
        assert row is not None
        return row["t"], row["r"], row["q"]


async def test_start_thread_errors(client: httpx.AsyncClient, service: Service) -> None:
    before = await _counts(service)
    r = await client.post("/api/v1/threads", json={"graph": "nope", "input": {}})
    assert r.status_code == 404
    assert "nope" in r.json()["detail"]

    r = await client.post("/api/v1/threads", json={"graph": "code_review", "input": {}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "input", "diff"]

    r = await client.post("/api/v1/threads", json={"graph": "code_review", "input": {"diff": 5}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "input", "diff"]

    r = await client.post("/api/v1/threads", json={"input": {}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "graph"]

    r = await client.post("/api/v1/threads", json={"graph": "approval", "thread_id": "a b"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "thread_id"]

    r = await client.post(
        "/api/v1/threads", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert await _counts(service) == before

    thread_id = await start(client, "approval", {}, thread_id="mine-1")
    assert thread_id == "mine-1"
    r = await client.post("/api/v1/threads", json={"graph": "approval", "thread_id": "mine-1"})
    assert r.status_code == 409
    assert "mine-1" in r.json()["detail"]


async def test_oversized_body_gets_413_and_changes_nothing(
    client: httpx.AsyncClient, service: Service
) -> None:
    before = await _counts(service)
    big = {"graph": "approval", "input": {"counter_file": "x" * 1_100_000}}
    r = await client.post("/api/v1/threads", json=big)
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]
    assert await _counts(service) == before


async def test_unknown_ids_get_404(client: httpx.AsyncClient) -> None:
    for path in (
        "/api/v1/threads/missing",
        "/api/v1/requests/missing",
        "/api/v1/requests/00000000-0000-0000-0000-000000000000",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert "not found" in r.json()["detail"]
    r = await client.post(
        "/api/v1/requests/00000000-0000-0000-0000-000000000000/respond", json={"response": 1}
    )
    assert r.status_code == 404
    r = await client.post("/api/v1/threads/missing/resume", json={"resume": {"x": 1}})
    assert r.status_code == 404


async def test_list_filters_are_validated(client: httpx.AsyncClient) -> None:
    for path, param in (
        ("/api/v1/requests?state=done", "state"),
        ("/api/v1/threads?status=done", "status"),
        ("/api/v1/requests?limit=0", "limit"),
        ("/api/v1/requests?cursor=zzz", "cursor"),
    ):
        r = await client.get(path)
        assert r.status_code == 422, path
        assert r.json()["detail"][0]["loc"] == ["query", param]


async def test_listing_pages_through_everything_once(client: httpx.AsyncClient) -> None:
    ids = [await start(client, "approval", {}) for _ in range(7)]
    for thread_id in ids:
        await settle(client, thread_id)

    seen: list[str] = []
    keys: list[tuple[str, str]] = []
    cursor = None
    while True:
        params = {"state": "pending", "graph": "approval", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/requests", params=params)).json()
        seen += [r["thread_id"] for r in page["items"]]
        keys += [(r["created_at"], r["id"]) for r in page["items"]]
        assert len(page["items"]) <= 3
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    assert keys == sorted(keys, reverse=True)  # newest first, across pages

    page = (
        await client.get("/api/v1/threads", params={"status": "interrupted", "limit": 5})
    ).json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    rest = (
        await client.get(
            "/api/v1/threads", params={"status": "interrupted", "cursor": page["next_cursor"]}
        )
    ).json()
    assert {t["thread_id"] for t in page["items"] + rest["items"]} == set(ids)
    assert rest["next_cursor"] is None
    item = rest["items"][0]
    assert set(item) >= {"thread_id", "graph", "status", "updated_at"}

    assert (await client.get("/api/v1/threads", params={"graph": "parallel"})).json()["items"] == []
    assert (await client.get("/api/v1/requests", params={"state": "resumed"})).json()["items"] == []


async def test_listing_is_index_backed(client: httpx.AsyncClient, database_url: str) -> None:
    """The inbox query never scans: with enough rows the planner uses the state index."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO hitl_threads (thread_id, graph, status) VALUES ('t', 'g', 'interrupted')"
        )
        conn.execute(
            "INSERT INTO hitl_requests (thread_id, interrupt_id, graph, state)"
            " SELECT 't', i::text, 'g', CASE WHEN i % 10 = 0 THEN 'pending' ELSE 'resumed' END"
            " FROM generate_series(1, 20000) i"
        )
        conn.execute("ANALYZE hitl_requests")
        plan = conn.execute(
            "EXPLAIN SELECT * FROM hitl_requests WHERE state = 'pending'"
            " ORDER BY created_at DESC, id DESC LIMIT 51"
        ).fetchall()
    text = "\n".join(row[0] for row in plan)
    assert "hitl_requests_state" in text, text
    assert "Seq Scan" not in text, text


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    if path == "/readyz":
        assert r.json()["checks"] == {"migrations": "ok", "postgres": "ok", "redis": "ok"}


async def test_openapi_documents_the_contract(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in (
        "/api/v1/threads",
        "/api/v1/threads/{thread_id}",
        "/api/v1/threads/{thread_id}/resume",
        "/api/v1/requests",
        "/api/v1/requests/{request_id}",
        "/api/v1/requests/{request_id}/respond",
    ):
        assert path in spec["paths"], path
    assert (await client.get("/docs")).status_code == 200
    # descriptions in Markdown, as the docs UIs read them: `code`, not reStructuredText's ``code``
    assert "``" not in json.dumps(spec)
    create = spec["paths"]["/api/v1/apikeys"]["post"]["description"]
    assert "`key`" in create


async def test_the_docs_page_loads_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    """/docs works offline: Swagger UI's files are the service's own (swagger-ui-bundle)."""
    page = (await client.get("/docs")).text
    sources = re.findall(r'(?:src|href)=["\']([^"\']+)', page) + re.findall(
        r"url: ?'([^']+)'", page
    )
    assert sources and all(s.startswith("/") for s in sources), sources
    for path in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        r = await client.get(path)
        assert r.status_code == 200 and len(r.content) > 1000, path
    assert (await client.get("/docs/assets/../../../etc/passwd")).status_code == 404
    redoc = await client.get("/redoc", follow_redirects=False)
    assert redoc.status_code == 307 and redoc.headers["location"] == "/docs"


async def test_pending_requests_of_a_completed_thread_are_gone(client: httpx.AsyncClient) -> None:
    thread_id = await start(client, "approval", {})
    await settle(client, thread_id)
    [request] = await pending(client, thread_id)
    await client.post(
        f"/api/v1/requests/{request['id']}/respond", json={"response": {"decision": "approve"}}
    )
    await settle(client, thread_id)
    assert await pending(client, thread_id) == []


async def test_graphs_are_listed_with_their_input_schemas(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/graphs")
    assert r.status_code == 200
    graphs = {g["name"]: g for g in r.json()}
    assert {"approval", "code_review", "parallel"} <= set(graphs)
    assert graphs["code_review"]["input_schema"]["required"] == ["diff"]
