"""The outbound URL policy: which addresses Nexus may contact, checked before and while connecting.

Every URL Nexus contacts (satellite MCP endpoints, health checks, webhooks, message
handlers) passes two checks:

1. :meth:`OutboundPolicy.check_url` when the URL is stored (registration): the scheme is
   http(s), the host is not a cloud-metadata name, and a literal IP address is allowed.
2. The HTTP clients built here (:func:`httpx_client`, :func:`httpx2_client`) resolve the
   host themselves, check *every* resolved address and connect only to a checked one, so a
   name that later resolves elsewhere (DNS rebinding) is refused at connect time too.

Rules, in order::

    unspecified (0.0.0.0, ::), link-local (169.254.0.0/16, fe80::/10),
    multicast, reserved/broadcast, cloud-metadata names and addresses   always refused
    loopback (127.0.0.0/8, ::1)                                          allow_loopback (default on)
    private and other non-global ranges (10/8, 172.16/12, 192.168/16,
    100.64/10, fc00::/7, ...)                                            allow_private (default off)
    everything else (public addresses)                                   allowed

A refusal at registration is a :class:`~nexus_agent.wire.errors.Forbidden` naming the
rule; at connect time the client raises a ``ConnectError`` of its own library (so callers'
existing transport handling applies) whose message names the rule and whose
:func:`refusal_of` is that ``Forbidden``. Environment proxies are ignored on purpose: a
proxy would make the policy check the proxy's address instead of the target's.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio

from nexus_agent.wire.errors import ConfigError, Forbidden

if TYPE_CHECKING:  # httpx and httpcore cost ~30 ms to import; `nexus serve` needs neither before its first call
    import httpx
    import httpx2

__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_HOSTS",
    "OutboundPolicy",
    "Resolver",
    "httpx2_client",
    "httpx_client",
    "refusal_of",
    "ssl_context",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolve(host, port) -> [ip, ...]``; the default asks the system resolver (getaddrinfo).
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Names of cloud instance-metadata services (lower case, no trailing dot).
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
#: Addresses of cloud metadata and host-agent services (AWS, ECS, GCP, Azure, Alibaba, Oracle, ...).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.123",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "168.63.129.16",
        "192.0.0.192",
    )
)

_HINTS = {
    "loopback": "Set NEXUS_OUTBOUND_ALLOW_LOOPBACK=true to let Nexus contact services on this machine.",
    "private": "Set NEXUS_OUTBOUND_ALLOW_PRIVATE=true if satellites live on your private network.",
}
_ALWAYS_HINT = "Register the satellite's real address (a public name or an allowed range); this rule has no switch."


@dataclass(frozen=True)
class OutboundPolicy:
    """Which addresses Nexus may contact. Build it from settings: ``OutboundPolicy.from_settings(s)``."""

    allow_loopback: bool = True
    allow_private: bool = False
    #: An extra CA bundle (PEM) trusted for satellites' TLS certificates, besides the system's.
    ca_file: Path | None = None
    #: How host names are resolved at connect time (tests inject a fake; default: getaddrinfo).
    resolver: Resolver | None = None

    @classmethod
    def from_settings(cls, settings: Any, *, resolver: Resolver | None = None) -> OutboundPolicy:
        """From a :class:`nexus_agent.config.Settings` (its ``outbound_*`` and ``ca_file`` fields)."""
        return cls(
            allow_loopback=settings.outbound_allow_loopback,
            allow_private=settings.outbound_allow_private,
            ca_file=settings.ca_file,
            resolver=resolver,
        )

    # -- the rules ---------------------------------------------------------------------------------------

    def rule_for(self, address: str | IPAddress) -> str | None:
        """The rule that refuses ``address`` ('link-local', 'loopback', ...), or None when it is allowed."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip in METADATA_ADDRESSES:
            return "cloud-metadata"
        if ip.is_unspecified:
            return "unspecified"
        if ip.is_link_local:
            return "link-local"
        if ip.is_multicast:
            return "multicast"
        if isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK:
            return "unspecified"
        if ip.is_loopback:  # before 'reserved': Python counts ::1 in the reserved ::/8
            return None if self.allow_loopback else "loopback"
        if ip.is_reserved or (isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address(0xFFFFFFFF)):
            return "reserved"
        if not ip.is_global:
            return None if self.allow_private else "private"
        return None

    def refusal(self, rule: str, what: str, where: str) -> Forbidden:
        hint = _HINTS.get(rule, _ALWAYS_HINT)
        article = "an" if rule[0] in "aeiou" else "a"
        return Forbidden(
            f"{what} {where} is refused by the outbound URL policy: {article} {rule} address is never contacted"
            if rule not in _HINTS
            else f"{what} {where} is refused by the outbound URL policy: {rule} addresses are not allowed",
            hint=hint,
            details={"rule": rule, "url": where},
        )

    def check_url(self, url: str, *, what: str = "the URL") -> None:
        """Refuse (``Forbidden``) a URL that is not http(s) or names a refused host, before any connection."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise Forbidden(
                f"{what} {url} is refused by the outbound URL policy: only http and https URLs are contacted",
                hint="Use an http:// or https:// URL.",
                details={"rule": "scheme", "url": url},
            )
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise Forbidden(
                f"{what} {url} is refused by the outbound URL policy: it names no host",
                hint="Give a full URL such as https://quotes.example.com/mcp.",
                details={"rule": "no-host", "url": url},
            )
        if host in METADATA_HOSTS:
            raise self.refusal("cloud-metadata", what, url)
        ip = _literal_ip(host)
        if ip is not None:
            rule = self.rule_for(ip)
            if rule is not None:
                raise self.refusal(rule, what, url)

    def check_urls(self, urls: Iterable[tuple[str, str | None]]) -> None:
        """``check_url`` for each ``(what, url)`` pair whose url is set."""
        for what, url in urls:
            if url:
                self.check_url(url, what=what)

    async def allowed_addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return its allowed addresses; raise ``Forbidden`` naming the rule if none is."""
        name = host.strip("[]").rstrip(".").lower()
        where = f"{name}:{port}"
        if name in METADATA_HOSTS:
            raise self.refusal("cloud-metadata", "the host", where)
        literal = _literal_ip(name)
        addresses = [str(literal)] if literal is not None else await (self.resolver or _system_resolve)(name, port)
        allowed: list[str] = []
        first_rule: tuple[str, str] | None = None
        for address in addresses:
            rule = self.rule_for(address)
            if rule is None:
                allowed.append(address)
            elif first_rule is None:
                first_rule = (rule, address)
        if not allowed:
            rule, address = first_rule or ("unresolvable", "")
            shown = where if address in ("", name) else f"{where} (resolved to {address})"
            raise self.refusal(rule, "the host", shown)
        return allowed


_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host spells literally, including legacy IPv4 forms such as '2852039166' or '0xa9.254.1'."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in seen:
            seen.append(address)
    return seen


def refusal_of(exc: BaseException | None) -> Forbidden | None:
    """The policy refusal behind ``exc`` (a client's ``ConnectError``, possibly wrapped), or None."""
    seen = 0
    while exc is not None and seen < 20:
        refusal = getattr(exc, "refusal", None)
        if isinstance(refusal, Forbidden):
            return refusal
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            found = next((r for e in exc.exceptions if (r := refusal_of(e)) is not None), None)
            if found is not None:
                return found
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def ssl_context(policy: OutboundPolicy | None = None) -> ssl.SSLContext:
    """A verifying client TLS context (system trust store plus ``policy.ca_file``), TLS 1.2 at least."""
    import httpx2

    ctx = httpx2.create_ssl_context(trust_env=False)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if policy is not None and policy.ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(policy.ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            raise ConfigError(
                f"cannot load the CA bundle NEXUS_CA_FILE={policy.ca_file}: {reason}",
                hint="Point NEXUS_CA_FILE at a readable PEM file of CA certificates, or unset it.",
            ) from None
    return ctx


# -- clients that enforce the policy on every connection (outbound_transport, outbound_guard: imported when used)


def httpx_client(
    policy: OutboundPolicy,
    *,
    ssl_ctx: ssl.SSLContext | None = None,
    limits: httpx.Limits | None = None,
    **options: Any,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection obeys ``policy`` (options go to the client).

    Redirects are not followed unless ``follow_redirects=True`` is passed (each hop is checked anyway).
    """
    import httpx

    from nexus_agent.outbound_transport import GuardedTransport

    transport = GuardedTransport(policy, _eager_ssl(policy, ssl_ctx), limits or httpx.Limits())
    options.setdefault("follow_redirects", False)
    return httpx.AsyncClient(transport=transport, trust_env=False, **options)


def httpx2_client(
    policy: OutboundPolicy,
    *,
    ssl_ctx: ssl.SSLContext | None = None,
    limits: httpx2.Limits | None = None,
    **options: Any,
) -> httpx2.AsyncClient:
    """The same for ``httpx2`` (the MCP SDK's HTTP library): pass it as ``streamable_http_client(http_client=...)``."""
    import httpx2

    from nexus_agent.outbound_transport import GuardedTransport2

    transport = GuardedTransport2(policy, _eager_ssl(policy, ssl_ctx), limits or httpx2.Limits())
    options.setdefault("follow_redirects", False)
    return httpx2.AsyncClient(transport=transport, trust_env=False, **options)


def _eager_ssl(policy: OutboundPolicy, ssl_ctx: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """A client's TLS context now only when a bad ``NEXUS_CA_FILE`` must fail at once; the system trust store is
    loaded when the client first connects (:mod:`nexus_agent.outbound_transport`)."""
    if ssl_ctx is None and policy.ca_file is not None:
        return ssl_context(policy)
    return ssl_ctx
