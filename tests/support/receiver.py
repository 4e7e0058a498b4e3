"""A webhook receiver on 127.0.0.1 for tests: records every request, answers as scripted.

    async with Receiver(script=[500, 500, 200]) as hook:
        ... register hook.url ...
        [first, *_] = await hook.wait_for(3)

It runs uvicorn in the test's event loop. ``script`` items are consumed in order (a status, or
``(status, headers)``); after them every request gets ``default``. `Served` runs any other ASGI
app the same way (an SDK `WebhookReceiver`, say).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any, Self

import uvicorn

from hitl.launcher import free_port

Reply = int | tuple[int, dict[str, str]]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Served:
    """``app`` served on 127.0.0.1 (a free port) while the context lasts."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> Self:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        # The test process keeps its own signal handlers.
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Receiver(Served):
    def __init__(self, script: list[Reply] | None = None, default: Reply = 200) -> None:
        super().__init__(self._app)
        self.script = list(script or [])
        self.default = default
        self.received: list[Received] = []
        self._arrived = asyncio.Condition()

    async def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        """The first ``count`` requests, once that many arrived."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received[:count]

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        reply = self.script.pop(0) if self.script else self.default
        status, extra = reply if isinstance(reply, tuple) else (reply, {})
        payload = json.dumps({"status": status}).encode()
        response_headers = [(b"content-type", b"application/json")]
        response_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
        async with self._arrived:
            self.received.append(Received(scope["path"], headers, body, time.time()))
            self._arrived.notify_all()
