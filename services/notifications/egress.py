"""Where webhooks may go: public addresses only, checked on the connection itself (the SSRF guard).

An admin chooses a webhook URL, but the service posts to it from inside the deployment, next to
RabbitMQ's management API, the store and a cloud's metadata service (169.254.169.254). So a
target must be HTTP(S) without a user name or password, and be and resolve to public addresses
only: not loopback, private, link-local, multicast, unspecified or otherwise reserved. An IPv4
address inside IPv6 (``::ffff:127.0.0.1``) counts as itself, and numeric host forms
(``2130706433``, ``0x7f.1``, ``127.1``) are read as the address they are, by the URL parser at
registration and by the resolver when sending.

The target is checked when a recipient is added or changed (422 naming ``webhook_url``) and again
on every connection: :class:`PinnedTransport` resolves the name once, checks every address, and
connects to the first, with the URL's host in the ``Host`` header and in TLS's SNI and
certificate check. A name that answers a public address to the check and a private one to the
connection (DNS rebinding) therefore gets nowhere.

``SINERGI_NOTIFY_WEBHOOK_ALLOW`` lists networks and host names a deployment trusts all the same
(an internal receiver; the dev runner allows loopback for its local receivers). None by default.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses it resolves to, as strings; socket.gaierror when it does not.
Resolver = Callable[[str, int], Awaitable[list[str]]]

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway
LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){LABEL}(\.{LABEL})*")
ALLOW_SETTING = "SINERGI_NOTIFY_WEBHOOK_ALLOW"


class TargetRefused(Exception):
    """Webhooks may not go there; the message says why (for the admin, and for ``last_error``)."""


class TargetUnresolved(Exception):
    """The target's name does not resolve now (which may pass)."""


def embedded(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, or NAT64's well-known prefix)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def not_public(address: Address) -> str | None:
    """What ``address`` is when webhooks may not go to it (``a loopback address``), else None."""
    inner = embedded(address)
    if inner is not None:
        return not_public(inner)
    for kind, found in (("a loopback address", address.is_loopback),
                        ("the unspecified address", address.is_unspecified),
                        ("a link-local address", address.is_link_local),
                        ("a multicast address", address.is_multicast),
                        ("a private address", address.is_private),
                        ("a reserved address", address.is_reserved)):
        if found:
            return kind
    return None if address.is_global else "not a public address"


def host_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


@dataclass(frozen=True)
class Allowance:
    """Networks and host names webhooks may go to although they are not public."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowance:
        """``10.20.0.0/16``, ``127.0.0.1``, ``::1``, ``hooks.kpu.internal``; ValueError for anything else."""
        networks: list[Network] = []
        hosts: set[str] = set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                if not HOST_NAME.fullmatch(host_name(entry)):
                    raise ValueError(f"{entry!r} is neither a network (10.20.0.0/16, 127.0.0.1) "
                                     "nor a host name") from None
                hosts.add(host_name(entry))
        return cls(tuple(networks), frozenset(hosts))

    def permits(self, address: Address) -> bool:
        inner = embedded(address)
        return any(candidate in network for network in self.networks
                   for candidate in (address, inner) if candidate is not None and candidate.version == network.version)


async def resolve_system(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives ``host``, in its order of preference."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class Pinned:
    """A target checked: its URL as given, its host, and the address to connect to."""

    url: httpx.URL
    host: str
    address: Address
    named: bool  # the host is a name, not an address

    def connect_url(self) -> httpx.URL:
        return self.url.copy_with(host=str(self.address))


class Egress:
    """The check of a webhook target. ``resolve`` is the system's resolver; tests may put their own."""

    def __init__(self, allow: Allowance, resolve: Resolver = resolve_system, timeout: float = 10.0) -> None:
        self.allow = allow
        self.resolve = resolve
        self.timeout = timeout

    async def pin(self, url: str | httpx.URL) -> Pinned:
        """Check ``url`` and resolve it once: :class:`TargetRefused` if it may not be sent to,
        :class:`TargetUnresolved` if its name does not resolve now."""
        try:
            parsed = httpx.URL(str(url))
        except httpx.InvalidURL as exc:
            raise TargetRefused(f"not a URL webhooks can go to: {exc}") from exc
        if parsed.scheme not in {"http", "https"}:
            raise TargetRefused("webhooks go over http or https only")
        if parsed.userinfo:
            raise TargetRefused("a webhook URL must not carry a user name or password "
                                "(receivers check the X-Sinergi-Signature instead)")
        host = parsed.host
        if not host:
            raise TargetRefused("a webhook URL needs a host")
        literal = _address(host)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = [literal] if literal is not None else await self._resolved(host, port)
        trusted = literal is None and host_name(host) in self.allow.hosts
        for address in addresses:
            reason = not_public(address)
            if reason and not trusted and not self.allow.permits(address):
                where = f"{host} is" if literal is not None else f"{host} resolves to {address},"
                raise TargetRefused(f"{where} {reason}; webhooks go only to public addresses unless the "
                                    f"deployment allows this one ({ALLOW_SETTING})")
        return Pinned(parsed, host, addresses[0], named=literal is None)

    async def admit(self, url: str) -> None:
        """The check when a recipient is added or changed: as :meth:`pin`, except that a name that
        does not resolve now is let through (each attempt checks it again, and fails until it does)."""
        try:
            await self.pin(url)
        except TargetUnresolved:
            pass

    async def _resolved(self, host: str, port: int) -> list[Address]:
        try:
            answers = await asyncio.wait_for(self.resolve(host, port), self.timeout)
        except (OSError, UnicodeError) as exc:
            raise TargetUnresolved(f"{host} does not resolve: {exc}") from exc
        except TimeoutError as exc:
            raise TargetUnresolved(f"no answer resolving {host} within {self.timeout:g} s") from exc
        addresses = [found for found in (_address(answer) for answer in answers) if found is not None]
        if not addresses:
            raise TargetUnresolved(f"{host} resolves to no address")
        return addresses


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends each request to the address :meth:`Egress.pin` checked, the host in ``Host`` and SNI.

    Connections are pooled per host name: a pool keyed by address would hand a TLS connection
    whose certificate was checked for one name to a request for another name on that address.
    Pools no request uses are closed when more than ``hosts`` names have one.
    """

    def __init__(self, egress: Egress, limits: httpx.Limits, hosts: int = 64,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.egress = egress
        self.limits = limits
        self.hosts = hosts
        self.verify = verify  # the system's certificate authorities, unless a test brings its own
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}
        self._busy: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pinned = await self.egress.pin(request.url)
        extensions = dict(request.extensions)
        if pinned.named and pinned.url.scheme == "https":
            extensions["sni_hostname"] = pinned.host
        # The headers as the client built them, Host (the URL's host and port) included.
        direct = httpx.Request(request.method, pinned.connect_url(), headers=request.headers,
                               stream=request.stream, extensions=extensions)
        key = host_name(pinned.host)
        pool = await self._pool(key)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            response = await pool.handle_async_request(direct)
        except BaseException:
            self._release(key)
            raise
        return httpx.Response(response.status_code, headers=response.headers, extensions=response.extensions,
                              stream=_Released(response.stream, lambda: self._release(key)))

    async def _pool(self, key: str) -> httpx.AsyncHTTPTransport:
        if key not in self._pools:
            if len(self._pools) >= self.hosts:
                for idle in [k for k in self._pools if not self._busy.get(k)]:
                    await self._pools.pop(idle).aclose()
            self._pools[key] = httpx.AsyncHTTPTransport(limits=self.limits, verify=self.verify, trust_env=False)
        return self._pools[key]

    def _release(self, key: str) -> None:
        self._busy[key] -= 1
        if not self._busy[key]:
            del self._busy[key]

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()


class _Released(httpx.AsyncByteStream):
    """A response body that tells its pool's user count when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release()
                self._release = None
