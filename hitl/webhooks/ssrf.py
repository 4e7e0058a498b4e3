"""SSRF guard: webhooks only reach public addresses, checked when the connection is made.

Checking a URL when it is registered is not enough: a name can resolve to a public address then
and to ``127.0.0.1`` later (DNS rebinding). `GuardedBackend` is an httpcore network backend that
resolves the host itself, refuses every address that is not public (loopback, private,
link-local with the cloud metadata address, CGNAT, multicast, reserved, unspecified, their IPv6
equivalents, and IPv4-mapped IPv6 addresses by the IPv4 address inside) unless it lies in an
allowed network, and then connects to the address it checked, so no second lookup can differ.
TLS still verifies the certificate against the host name: httpcore passes the URL's host as
``server_hostname`` to ``start_tls``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddress(httpx.ConnectError):
    """The webhook's host resolves only to addresses it may not reach. Nothing was sent."""


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public one, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            why = refusal(inner)
            return f"{why} (inside {address})" if why else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("CGNAT", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    for name, hit in checks:
        if hit:
            return f"{name} address {address}"
    return None


def allowed(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address through ``inner``."""

    def __init__(
        self,
        allow: Sequence[IPNetwork] = (),
        *,
        inner: httpcore.AsyncNetworkBackend | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.allow = list(allow)
        self.inner = inner or httpcore.AnyIOBackend()
        self.resolve = resolver or _system_resolver

    async def check(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` this guard lets a webhook reach; raises if there is none."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]").split("%")[0])
        except ValueError:
            literal = None
        try:
            found = [str(literal)] if literal else await self.resolve(host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        reasons = []
        usable = []
        for text in found:
            address = ipaddress.ip_address(text.split("%")[0])
            why = refusal(address)
            if why is None or allowed(address, self.allow):
                usable.append(text)
            else:
                reasons.append(why)
        if not usable:
            raise BlockedAddress(f"blocked: {host!r} resolves to {'; '.join(reasons)}")
        return usable

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for address in await self.check(host, port):
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("blocked: webhooks do not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(
    allow: Sequence[IPNetwork] = (),
    *,
    timeout: float = 15.0,
    max_connections: int = 100,
    backend: GuardedBackend | None = None,
) -> httpx.AsyncClient:
    """An httpx client whose every connection passes the guard. Redirects are not followed and
    no proxy from the environment is used (a proxy would connect on our behalf, unchecked)."""
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
    )
    # httpx has no public hook for the network backend; its pool is httpcore's.
    transport._pool._network_backend = backend or GuardedBackend(allow)
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
