"""``/readyz`` says which dependency failed with a generic reason, never the driver's message
(it answers without credentials); the message goes to the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from hitl.config import Settings


class TCPProxy:
    """Forwards a local port to Redis until `cut`: then every connection drops and no new one
    is accepted, as when the server goes away."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def __aenter__(self) -> TCPProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in self.writers:
            writer.close()


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[TCPProxy]:
    pool = Redis.from_url(redis_url).connection_pool.connection_kwargs
    async with TCPProxy(pool.get("host", "127.0.0.1"), pool.get("port", 6379)) as proxy:
        yield proxy


@pytest.fixture
def settings(settings: Settings, redis_proxy: TCPProxy) -> Settings:
    db = (settings.redis_url or "").rsplit("/", 1)[-1]
    return settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{redis_proxy.port}/{db}", "runner": False}
    )


async def test_a_failed_dependency_shows_a_generic_reason(
    client: httpx.AsyncClient, redis_proxy: TCPProxy, caplog: pytest.LogCaptureFixture
) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text

    await redis_proxy.cut()
    caplog.set_level(logging.WARNING, logger="hitl.health")
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {
        "status": "unavailable",
        "checks": {"migrations": "ok", "postgres": "ok", "redis": "failed: unreachable"},
    }
    assert str(redis_proxy.port) not in r.text and "Error" not in r.text
    [line] = [rec.getMessage() for rec in caplog.records if rec.name == "hitl.health"]
    assert line.startswith("readiness: redis unreachable: ") and str(redis_proxy.port) in line
