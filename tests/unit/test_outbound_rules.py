"""Where an outbound request may go (``tessera_core.outbound.rules``): which addresses are
refused outside dev, what the allow list lets through, and which URLs may be registered.
Pure logic: addresses are passed in, nothing is resolved."""

from __future__ import annotations

import ipaddress

import pytest

from tessera_core.outbound.rules import (
    OutboundPolicy,
    OutboundRefused,
    address_refusal,
    is_loopback_host,
    url_refusal,
)


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


class TestAddressRefusal:
    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("::1", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.5.4", "private"),
            ("192.168.1.1", "private"),
            ("fd00::1", "private"),
            ("169.254.169.254", "link-local"),  # the cloud metadata endpoint
            ("fe80::1", "link-local"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("240.0.0.1", "reserved"),
            ("100.64.0.1", "non-global"),  # shared address space (carrier NAT)
            ("192.0.2.1", "private"),  # documentation
            ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
            ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "tunnelled"),  # Teredo
        ],
    )
    def test_inside_addresses_are_refused(self, address: str, reason: str):
        assert address_refusal(ip(address)) == reason

    @pytest.mark.parametrize(
        "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
    )
    def test_global_addresses_are_allowed(self, address: str):
        assert address_refusal(ip(address)) is None


class TestPolicy:
    def test_every_resolved_address_is_checked(self):
        policy = OutboundPolicy.of()
        with pytest.raises(OutboundRefused, match=r"10\.0\.0\.7, a private address"):
            policy.check("keys.example.com", [ip("93.184.215.14"), ip("10.0.0.7")])

    def test_a_public_host_passes(self):
        OutboundPolicy.of().check("keys.example.com", [ip("93.184.215.14"), ip("2606:4700::1")])

    def test_no_address_is_refused(self):
        with pytest.raises(OutboundRefused, match="no address"):
            OutboundPolicy.of().check("keys.example.com", [])

    def test_an_allowed_network_lets_its_addresses_through_only(self):
        policy = OutboundPolicy.of(["10.20.0.0/16", "127.0.0.1"])
        policy.check("jwks.corp", [ip("10.20.3.4")])
        policy.check("localhost", [ip("127.0.0.1")])
        with pytest.raises(OutboundRefused):
            policy.check("jwks.corp", [ip("10.21.0.1")])
        with pytest.raises(OutboundRefused):
            policy.check("localhost", [ip("127.0.0.2")])

    def test_an_allowed_host_may_resolve_anywhere(self):
        policy = OutboundPolicy.of(["Keys.Corp."])
        policy.check("keys.corp", [ip("10.1.1.1"), ip("fd00::5")])
        with pytest.raises(OutboundRefused):
            policy.check("other.corp", [ip("10.1.1.1")])

    def test_an_allowed_ipv4_network_does_not_admit_ipv6(self):
        policy = OutboundPolicy.of(["0.0.0.0/0"])
        with pytest.raises(OutboundRefused, match="loopback"):
            policy.check("x.test", [ip("::1")])

    def test_dev_allows_everything(self):
        OutboundPolicy.of(allow_internal=True).check("localhost", [ip("127.0.0.1"), ip("::1")])


class TestUrlRefusal:
    @pytest.mark.parametrize(
        "url",
        [
            "https://keys.example.com/.well-known/jwks.json",
            "https://keys.example.com:8443/jwks?tenant=a",
            "https://[2606:4700::1]/jwks",
        ],
    )
    def test_https_urls_are_accepted(self, url: str):
        assert url_refusal(url, allow_loopback_http=False) is None

    @pytest.mark.parametrize(
        "url",
        [
            "http://keys.example.com/jwks",
            "http://127.0.0.1:9000/jwks",
            "ftp://keys.example.com/jwks",
            "file:///etc/passwd",
            "https:///jwks",
            "/relative/jwks",
            "https://user:pw@keys.example.com/jwks",
            "https://keys.example.com/jwks#frag",
            "https://keys.example.com:99999/jwks",
        ],
    )
    def test_anything_else_is_refused_in_production(self, url: str):
        assert url_refusal(url, allow_loopback_http=False) is not None

    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:9000/jwks", "http://localhost/jwks", "http://[::1]:81/k"]
    )
    def test_http_to_loopback_where_allowed(self, url: str):
        assert url_refusal(url, allow_loopback_http=True) is None

    @pytest.mark.parametrize("url", ["http://keys.example.com/jwks", "http://10.0.0.1/jwks"])
    def test_http_elsewhere_is_refused_even_where_loopback_is_allowed(self, url: str):
        assert url_refusal(url, allow_loopback_http=True) is not None

    @pytest.mark.parametrize(
        ("host", "loopback"),
        [
            ("localhost", True),
            ("a.localhost.", True),
            ("127.0.0.5", True),
            ("[::1]", True),
            ("localhost.example.com", False),
            ("10.0.0.1", False),
        ],
    )
    def test_loopback_hosts(self, host: str, loopback: bool):
        assert is_loopback_host(host) is loopback
