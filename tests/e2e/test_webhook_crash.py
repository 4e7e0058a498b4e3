"""SIGKILL between an answer's commit and its webhook's send: after a restart the webhook is
sent, with the webhook-id the delivery got in the answer's transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import psycopg
from standardwebhooks import Webhook

from hitl.launcher import ServiceProcess
from tests.support.receiver import Receiver

ENV = {
    "HITL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "HITL_WEBHOOK_RETRY_SCHEDULE": "0,0.5,0.5,1,1,2",
    "HITL_WEBHOOK_LEASE_SECONDS": "2",
}


async def test_sigkill_before_the_send_then_the_same_webhook_id_arrives(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
) -> None:
    async with Receiver() as hook:
        server = make_server(**ENV).start({"HITL_FAILPOINTS": "before_webhook_send"})
        await asyncio.to_thread(server.wait_ready)
        client = http(server.url)
        endpoint = (
            await client.post("/api/v1/webhooks", json={"url": hook.url(), "events": []})
        ).json()
        request = (
            await client.post(
                "/api/v1/requests",
                json={"workflow_id": "wf", "callback_webhook": hook.url(), "context": {}},
            )
        ).json()
        try:  # the service dies right after the commit: the answer may or may not get back
            await client.post(
                f"/api/v1/requests/{request['id']}/respond", json={"response": {"ok": True}}
            )
        except httpx.TransportError:
            pass
        assert await asyncio.to_thread(server.wait_exit, 60) == -9

        with psycopg.connect(database_url) as conn:
            state = conn.execute(
                "SELECT state, callback_delivery_id FROM hitl_requests WHERE id = %s",
                (request["id"],),
            ).fetchone()
            assert state is not None and state[0] == "responded"
            delivery = conn.execute(
                "SELECT id::text, state, attempts FROM hitl_webhook_deliveries"
            ).fetchall()
            assert delivery == [(str(state[1]), "delivering", 0)]  # claimed, never sent
            assert conn.execute("SELECT count(*) FROM hitl_webhook_attempts").fetchone() == (0,)
        assert hook.received == []

        server.start()  # without the failpoint
        await asyncio.to_thread(server.wait_ready)
        [message] = await hook.wait_for(1, timeout=30)
        assert message.webhook_id == str(state[1])
        payload = Webhook(endpoint["secret"]).verify(message.body, message.headers)
        assert payload["request_id"] == request["id"] and payload["response"] == {"ok": True}

        # The restarted service took the dead one's delivery over when its lease lapsed.
        takeover = 'hitl_lease_takeovers_total{work="webhook_delivery"} 1.0'
        for _ in range(100):
            if takeover in (await client.get("/metrics")).text:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no webhook delivery takeover counted")
