"""SIGKILL after the SMTP server took a notification and before the service recorded it: after
a restart the lease lapses and the message is sent again, with the same Message-ID (at least
once, and recognisably the same message)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import psycopg

from hitl.launcher import ServiceProcess
from tests.support.smtp import SMTPSink

ADD_USER = (
    "INSERT INTO hitl_users (username, email, role) VALUES ('ana', 'ana@example.com', 'responder')"
)


async def test_sigkill_after_the_send_then_the_same_message_again_and_recorded_once(
    make_server: Callable[..., ServiceProcess],
    http: Callable[[str], httpx.AsyncClient],
    database_url: str,
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(ADD_USER)
    async with SMTPSink() as smtp:
        server = make_server(
            HITL_SMTP_HOST="127.0.0.1",
            HITL_SMTP_PORT=str(smtp.port),
            HITL_SMTP_TLS="none",
            HITL_PUBLIC_URL="https://hitl.example.com",
            HITL_WEBHOOK_LEASE_SECONDS="2",
            HITL_WEBHOOK_RETRY_SCHEDULE="0,0.5,0.5,1,1,2",
        )
        server.start({"HITL_FAILPOINTS": "after_notification_send"})
        await asyncio.to_thread(server.wait_ready)
        client = http(server.url)
        callback = "http://127.0.0.1:9/callback"  # never called: nobody answers
        r = await client.post("/api/v1/webhooks", json={"url": callback, "events": []})
        assert r.status_code == 201, r.text
        try:  # the service dies as soon as the message is out: the answer may not get back
            await client.post(
                "/api/v1/requests",
                json={"workflow_id": "wf", "callback_webhook": callback, "context": {}},
            )
        except httpx.TransportError:
            pass
        [first] = await smtp.wait_for(1)
        assert await asyncio.to_thread(server.wait_exit, 60) == -9

        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT id::text, request_id::text, status, attempts FROM hitl_notifications"
            ).fetchall()
        [(notification_id, request_id, status, attempts)] = rows
        assert (status, attempts) == ("sending", 1)  # sent, never recorded
        assert first.message["Message-ID"] == f"<{notification_id}@hitl.notifications>"
        assert f"https://hitl.example.com/requests/{request_id}" in first.text

        server.start()  # without the failpoint
        await asyncio.to_thread(server.wait_ready)
        [_, again] = await smtp.wait_for(2, timeout=30)
        assert again.message["Message-ID"] == first.message["Message-ID"]
        assert again.rcpt_tos == first.rcpt_tos == ["ana@example.com"]

        async with asyncio.timeout(20):
            while True:
                with psycopg.connect(database_url) as conn:
                    row = conn.execute("SELECT status, attempts FROM hitl_notifications").fetchone()
                if row == ("sent", 2):
                    break
                await asyncio.sleep(0.1)
        assert len(smtp.received) == 2
