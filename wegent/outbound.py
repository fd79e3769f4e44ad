"""The guard on URLs the server fetches for users (SSRF): MCP servers, anything a tool fetches.

A URL a user wrote into a Ghost (or a model asked a tool to fetch) must not reach the server's
own network: loopback, private, link-local, unspecified, multicast/reserved and cloud metadata
addresses are refused unless the operator names them in ``WEGENT_OUTBOUND_ALLOWLIST``
(``settings.OUTBOUND_ALLOWLIST``: host names, IPs or CIDRs; an IP allows exactly that address).

``check_url``/``acheck_url`` give the readable refusal before connecting. The connection itself
goes through ``guarded_http_client``, whose network backend resolves the host once, checks every
address and connects to a checked address (the TLS server name stays the URL's host), so what is
checked is what is connected to. Every new connection (a redirect, a reconnect) is checked again,
so a name that later re-resolves to a private address (DNS rebinding) is refused then too. What
remains: an allow-listed *host name* is trusted for whatever it resolves to, and a proxy (none
is used: the guarded client ignores proxy environment variables) would see only its own address.

Model base URLs (``kinds``/``chat.providers``) are operator-configured and often point at a
local model server, so they are deliberately not passed through this guard.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore2
import httpx2
from django.conf import settings

from wegent.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Metadata services reached by name; their addresses are link-local/private anyway, but a name
# refused here cannot be rescued by a resolver that maps it somewhere public-looking.
METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
    }
)
# Metadata addresses named outright (most are also link-local or private; Alibaba's is in the
# shared 100.64.0.0/10 space): the refusal says "metadata" for them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
# NAT64's well-known prefix embeds an IPv4 address in the low 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(BadRequest):
    """A URL the guard will not fetch; ``detail`` says why and how an operator allows it."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                # A bare address is a /32 (/128) network: exactly that address.
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(_normal_host(entry))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return _normal_host(host) in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


def allowlist() -> AllowList:
    """The operator's allow-list, read from settings on each call (tests override it)."""
    value: Any = getattr(settings, "OUTBOUND_ALLOWLIST", ())
    if isinstance(value, str):
        value = value.split(",")
    return AllowList.parse(value)


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64), if any: the packet
    may end up at that IPv4 address, so that is the one to judge."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why an address may not be fetched (e.g. ``"a loopback address"``), or None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return address_problem(inner)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute):
            return reason
    if not address.is_global:
        # Shared (carrier-grade NAT) space, benchmarking nets and the like.
        return "a non-public address"
    return None


def _judge(address: IPAddress, allowed: AllowList) -> str | None:
    """The refusal reason for one resolved address, or None when it may be fetched."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 is 127.0.0.1 on the wire: the allow-list speaks of the IPv4 form.
        address = address.ipv4_mapped
    if allowed.allows_address(address):
        return None
    reason = address_problem(address)
    return f"{address} is {reason}" if reason else None


def _split(url: str) -> tuple[str, int]:
    """The URL's host and port; refuses schemes other than http/https and hostless URLs."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"Refused {url!r}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"Refused {url!r}: only http and https URLs may be fetched")
    host = parts.hostname
    if not host:
        raise OutboundRefused(f"Refused {url!r}: the URL has no host")
    return host, port or (443 if parts.scheme == "https" else 80)


def _refusal(host: str, reason: str) -> OutboundRefused:
    return OutboundRefused(f"Refused {host}: {reason}; an operator may allow it in WEGENT_OUTBOUND_ALLOWLIST")


def _addresses(infos: Sequence[tuple[Any, ...]]) -> list[IPAddress]:
    found: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        address = ipaddress.ip_address(text)
        if address not in found:
            found.append(address)
    return found


def _verdict(host: str, addresses: list[IPAddress], allowed: AllowList) -> list[IPAddress]:
    """Every address must pass (a name resolving to one public and one private address would
    otherwise be a coin toss); returns them, in resolver order, for the connection to use."""
    if not addresses:
        raise OutboundRefused(f"Refused {host}: it resolves to no address")
    for address in addresses:
        reason = _judge(address, allowed)
        if reason:
            raise _refusal(host, reason)
    return addresses


def _precheck_host(host: str, allowed: AllowList) -> bool:
    """True when the allow-list names the host (nothing else to check); refuses metadata names."""
    if allowed.allows_host(host):
        return True
    if _normal_host(host) in METADATA_HOSTS:
        raise _refusal(host, "a cloud metadata host")
    return False


def resolve_checked(host: str, port: int = 80) -> list[IPAddress]:
    """Resolves ``host`` (names, literal IPs, and the legacy decimal/octal/hex IPv4 forms the
    resolver accepts) and returns its addresses if every one may be fetched."""
    allowed = allowlist()
    named = _precheck_host(host, allowed)
    try:
        infos = socket.getaddrinfo(_normal_host(host), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundRefused(f"Refused {host}: it does not resolve ({exc})") from None
    addresses = _addresses(infos)
    return addresses if named else _verdict(host, addresses, allowed)


async def aresolve_checked(host: str, port: int = 80) -> list[IPAddress]:
    """``resolve_checked`` without blocking the event loop on DNS."""
    allowed = allowlist()
    named = _precheck_host(host, allowed)
    try:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(_normal_host(host), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundRefused(f"Refused {host}: it does not resolve ({exc})") from None
    addresses = _addresses(infos)
    return addresses if named else _verdict(host, addresses, allowed)


def check_url(url: str) -> None:
    """Raises ``OutboundRefused`` (a 400 ``BadRequest``) unless ``url`` may be fetched."""
    resolve_checked(*_split(url))


async def acheck_url(url: str) -> None:
    await aresolve_checked(*_split(url))


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Connects only to checked addresses: resolves the host itself, checks all its addresses,
    then dials a checked address, so DNS cannot answer differently between check and connect."""

    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            addresses = await aresolve_checked(host, port)
        except OutboundRefused as exc:
            raise httpcore2.ConnectError(exc.detail) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("Unix sockets are not reachable through the outbound guard")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with its connection pool on the ``GuardedBackend``."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True) -> None:
        context = _default_ssl_context() if verify is True else httpx2.create_ssl_context(verify=verify)
        super().__init__(verify=context, trust_env=False)
        self._pool = httpcore2.AsyncConnectionPool(ssl_context=context, network_backend=GuardedBackend())


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """One verifying context per process: loading the CA bundle costs ~21 ms of CPU, and each
    MCP session built two (the parent transport's and the pool's), ~44 of the ~65 ms of server
    CPU a session cost in ``bench/chat_stream.py --tool mcp``. An SSLContext may be shared by
    any number of connections."""
    return httpx2.create_ssl_context(verify=True, trust_env=False)


def guarded_http_client(
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
    *,
    verify: ssl.SSLContext | bool = True,
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` that connects only where the guard allows (every connection,
    including redirects, is checked). Same signature as the MCP SDK's client factory, and its
    default timeouts (30 s, 300 s reads for long-lived event streams)."""
    return httpx2.AsyncClient(
        headers=headers,
        timeout=timeout or httpx2.Timeout(30.0, read=300.0),
        auth=auth,
        transport=GuardedTransport(verify=verify),
        # Proxy variables would route around the per-connection check.
        trust_env=False,
        follow_redirects=False,
    )
