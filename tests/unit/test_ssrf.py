"""The SSRF guard refuses before connecting; it connects to the address it checked."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpcore
import httpx
import pytest

from hitl.webhooks.ssrf import BlockedAddress, GuardedBackend, guarded_client

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


class Recording(httpcore.AsyncNetworkBackend):
    """Records connection attempts and makes none."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((host, port))
        raise httpcore.ConnectError("recording backend: no connection made")

    async def sleep(self, seconds: float) -> None:
        pass


def resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


REFUSED = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.0.0.1/hook",
    "http://100.64.0.1/hook",
    "http://rebind.test/hook",  # a name resolving to 127.0.0.1
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://224.0.0.1/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://240.0.0.1/hook",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_refused_before_any_connection(url: str) -> None:
    inner = Recording()
    names = {"localhost": ["127.0.0.1", "::1"], "rebind.test": ["127.0.0.1"]}
    backend = GuardedBackend([], inner=inner, resolver=resolver(names))
    async with guarded_client(backend=backend) as client:
        with pytest.raises(BlockedAddress, match="blocked"):
            await client.post(url, content=b"{}")
    assert inner.calls == []


async def test_a_rebinding_name_is_checked_at_every_connection() -> None:
    inner = Recording()
    answers = [["93.184.215.14"], ["127.0.0.1"]]

    async def flipping(host: str, port: int) -> list[str]:
        return answers.pop(0)

    backend = GuardedBackend([], inner=inner, resolver=flipping)
    assert await backend.check("rebind.test", 80) == ["93.184.215.14"]
    with pytest.raises(BlockedAddress):
        await backend.check("rebind.test", 80)


async def test_connects_to_the_checked_address_not_the_name() -> None:
    inner = Recording()
    backend = GuardedBackend(
        [], inner=inner, resolver=resolver({"public.test": ["10.1.1.1", "93.184.215.14"]})
    )
    async with guarded_client(backend=backend) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post("https://public.test/hook", content=b"{}")
    assert inner.calls == [("93.184.215.14", 443)]  # the private address was skipped


async def test_allow_list_lets_loopback_through() -> None:
    inner = Recording()
    backend = GuardedBackend(LOOPBACK, inner=inner, resolver=resolver({}))
    assert await backend.check("127.0.0.1", 80) == ["127.0.0.1"]
    with pytest.raises(BlockedAddress):  # mapped IPv6 is judged by its IPv4 but not allowed
        await backend.check("::ffff:127.0.0.1", 80)
    with pytest.raises(BlockedAddress):
        await backend.check("10.0.0.1", 80)


async def test_a_real_request_to_an_allowed_local_server() -> None:
    from tests.support.receiver import Receiver

    async with Receiver() as hook, guarded_client(LOOPBACK) as client:
        r = await client.post(hook.url(), content=b'{"a": 1}')
        assert r.status_code == 200
    async with Receiver() as hook, guarded_client([]) as client:
        with pytest.raises(BlockedAddress):
            await client.post(hook.url(), content=b"{}")
        assert hook.received == []


async def test_redirects_are_not_followed() -> None:
    from tests.support.receiver import Receiver

    async with (
        Receiver(script=[(302, {"location": "http://10.0.0.1/"})]) as hook,
        guarded_client(LOOPBACK) as client,
    ):
        r = await client.post(hook.url(), content=b"{}")
        assert r.status_code == 302
