"""``tessera_core.outbound.client`` against a real https server on 127.0.0.1 whose
certificate names ``localhost`` only: the client resolves the name, checks the addresses,
connects to the checked address and still verifies the certificate for the name (the
``Host`` header and the TLS server name are the name); a name that resolves inside is
refused before any connection; a certificate for another name is refused."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera_core.outbound import OutboundClient, OutboundFailed, OutboundPolicy, OutboundRefused
from tests.fixtures.jwks_server import JwksServer, localhost_certificate

KEYS = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "x", "y": "y"}]}


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return localhost_certificate(tmp_path)


@pytest.fixture
def https_server(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[JwksServer]:
    server = JwksServer(tls=tls[0])
    server.document = KEYS
    try:
        yield server
    finally:
        server.stop()


async def test_https_by_name_goes_to_the_checked_address_and_verifies_the_name(
    https_server: JwksServer, tls: tuple[ssl.SSLContext, ssl.SSLContext]
):
    client = OutboundClient(OutboundPolicy.of(["localhost"]), verify=tls[1])
    try:
        document = await client.get_json(https_server.url(host="localhost"))
    finally:
        await client.aclose()
    assert document == KEYS
    assert https_server.hosts == [f"localhost:{https_server.port}"]
    assert https_server.server_names == ["localhost"]


async def test_a_name_that_resolves_inside_is_refused_before_connecting(
    https_server: JwksServer, tls: tuple[ssl.SSLContext, ssl.SSLContext]
):
    client = OutboundClient(OutboundPolicy.of(), verify=tls[1])
    try:
        with pytest.raises(OutboundRefused, match="a loopback address"):
            await client.get_json(https_server.url(host="localhost"))
    finally:
        await client.aclose()
    assert https_server.server_names == []
    assert sum(https_server.hits.values()) == 0


async def test_a_certificate_for_another_name_is_refused(
    https_server: JwksServer, tls: tuple[ssl.SSLContext, ssl.SSLContext]
):
    client = OutboundClient(OutboundPolicy.of(["127.0.0.1"]), verify=tls[1])
    try:
        with pytest.raises(
            OutboundFailed, match=r"could not connect to 127\.0\.0\.1 .*CERTIFICATE_VERIFY_FAILED"
        ):
            await client.get_json(https_server.url(host="127.0.0.1"))
    finally:
        await client.aclose()
    assert sum(https_server.hits.values()) == 0
