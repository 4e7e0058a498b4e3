"""Idempotency records belong to one caller: two API keys that share a name (and so a
`Principal.name`) and send the same Idempotency-Key do not see each other's response.

Two active keys cannot be made with one name any more; a database from before that rule may
still hold such a pair, which this test makes by renaming one."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from hitl.config import Settings
from hitl.service import Service
from tests.integration.test_idempotency import key, make_body
from tests.support import auth


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_delivery": False})


async def test_keys_sharing_a_name_do_not_share_idempotency_records(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], service: Service
) -> None:
    scopes = ("requests:write", "requests:read")
    first = client_for(await auth.make_key(client, *scopes, name="agent"))
    second = client_for(await auth.make_key(client, *scopes, name="agent-2"))
    async with service.pool.connection() as conn:
        await conn.execute("UPDATE hitl_api_keys SET name = 'agent' WHERE name = 'agent-2'")
    body = await make_body(client)
    # The admin's endpoint, shared with every caller that may create requests.
    [endpoint] = (await client.get("/api/v1/webhooks")).json()["items"]
    shared = await client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"shared_with": ["*"]})
    assert shared.status_code == 200, shared.text

    mine = await first.post("/api/v1/requests", json=body, headers=key("same"))
    theirs = await second.post("/api/v1/requests", json=body, headers=key("same"))
    assert mine.status_code == theirs.status_code == 201, (mine.text, theirs.text)
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]

    # Each key still replays its own response.
    again = await second.post("/api/v1/requests", json=body, headers=key("same"))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == theirs.json()["id"]
    assert len((await client.get("/api/v1/requests")).json()["items"]) == 2
