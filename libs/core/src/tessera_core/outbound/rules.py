"""Where an outbound request may go: pure rules on URLs and addresses, no network.

A URL a client or an administrator registers (a JWK set's ``jwks_uri``, later a webhook) is
fetched by the server, from inside its network: unchecked, it would let anyone who can
register one make the server read its own metadata endpoint, its database or a neighbour
(SSRF). Outside dev an outbound request reaches only global unicast addresses, unless the
operator allows a host or a network (``TESSERA_OUTBOUND_ALLOW``). The addresses checked are
the ones the host resolves to when the request is made, and the connection goes to one of
them (``tessera_core.outbound.client``), so a name that resolves elsewhere a second later
changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "IPAddress",
    "OutboundPolicy",
    "OutboundRefused",
    "address_refusal",
    "is_loopback_host",
    "url_refusal",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that carry an IPv4 address inside: the IPv4 one is what is reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class OutboundRefused(ValueError):
    """The request may not be made: the message says which address or rule refused it."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached from outside dev (``None``: it may): loopback,
    private, link-local, multicast, unspecified, reserved, or any other non-global range
    (shared address space, documentation, benchmarking). An IPv6 address that carries an
    IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 one; Teredo and local NAT64 are
    refused outright (where they lead is not in the address alone).

    Example:
        >>> address_refusal(ipaddress.ip_address("10.1.2.3"))
        'private'
        >>> address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"))
        'loopback'
        >>> address_refusal(ipaddress.ip_address("93.184.215.14")) is None
        True
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None or address in _NAT64_LOCAL:
            return "tunnelled"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_refusal(embedded)
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "non-global"
    return None


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and its subdomains, RFC 6761 §6.3) or a loopback address literal."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_refusal(url: str, *, allow_loopback_http: bool) -> str | None:
    """Why ``url`` may not be registered to be fetched (``None``: it may): it must be an
    absolute ``https://`` URL with a host and no credentials or fragment. ``http://`` is
    accepted only for a loopback host and only where ``allow_loopback_http`` (dev and test).

    Example:
        >>> url_refusal("https://keys.example.com/jwks.json", allow_loopback_http=False) is None
        True
        >>> url_refusal("http://127.0.0.1:9000/jwks", allow_loopback_http=False)
        'the URL must use https'
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        return "the URL must be an absolute https:// URL"
    if parts.username is not None or parts.password is not None:
        return "the URL must not carry credentials"
    if parts.fragment:
        return "the URL must not have a fragment"
    if port == 0:
        return "not a valid port"
    if parts.scheme == "http" and not (allow_loopback_http and is_loopback_host(host)):
        if allow_loopback_http:
            return "the URL must use https (http only for a loopback host)"
        return "the URL must use https"
    return None


def _networks(entries: Iterable[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return tuple(networks), frozenset(hosts)


@dataclass(frozen=True)
class OutboundPolicy:
    """Which resolved addresses a request may connect to.

    ``allow`` holds host names (every address they resolve to is then allowed) and networks
    (``10.20.0.0/16``, ``192.0.2.7``) let through although not global; ``allow_internal``
    (dev) lets everything through.

    Example:
        >>> policy = OutboundPolicy.of(["10.20.0.0/16", "keys.internal"])
        >>> policy.allows("jwks.corp", ipaddress.ip_address("10.20.1.1"))
        True
        >>> policy.allows("jwks.corp", ipaddress.ip_address("10.30.1.1"))
        False
    """

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    allow_internal: bool = False

    @classmethod
    def of(cls, allow: Iterable[str] = (), *, allow_internal: bool = False) -> OutboundPolicy:
        networks, hosts = _networks(allow)
        return cls(networks=networks, hosts=hosts, allow_internal=allow_internal)

    def allows(self, host: str, address: IPAddress) -> bool:
        if self.allow_internal or host.lower().rstrip(".") in self.hosts:
            return True
        if any(address.version == n.version and address in n for n in self.networks):
            return True
        return address_refusal(address) is None

    def check(self, host: str, addresses: Sequence[IPAddress]) -> None:
        """``OutboundRefused`` unless every address ``host`` resolved to may be reached: one
        refused address refuses the host (a name that also points inside is not trusted)."""
        if not addresses:
            raise OutboundRefused(f"{host} resolves to no address")
        for address in addresses:
            if not self.allows(host, address):
                reason = address_refusal(address) or "refused"
                raise OutboundRefused(f"{host} resolves to {address}, a {reason} address")
