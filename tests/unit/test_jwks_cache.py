from __future__ import annotations

import asyncio
from typing import Any

import httpx
from joserfc.jwk import ECKey, RSAKey

from tessera_core.tokens.jwks import HttpJWKSSource, JWKSCache, parse_jwks


def jwk(kid: str) -> dict[str, Any]:
    return {
        **ECKey.generate_key("P-256").as_dict(private=False),
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
    }


class FakeSource:
    def __init__(self, *documents: dict[str, Any] | Exception) -> None:
        self.documents = list(documents)
        self.calls = 0

    async def fetch(self) -> dict[str, Any]:
        self.calls += 1
        document = self.documents[min(self.calls, len(self.documents)) - 1]
        if isinstance(document, Exception):
            raise document
        return document


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestParseJwks:
    def test_skips_unusable_entries_and_private_members(self):
        rsa = RSAKey.generate_key(2048).as_dict(private=True)
        keys = parse_jwks(
            {
                "keys": [
                    {**rsa, "kid": "r", "alg": "RS256"},
                    {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
                    {**jwk("enc"), "use": "enc"},
                    {
                        "kid": "broken",
                        "kty": "EC",
                        "alg": "ES256",
                        "crv": "P-256",
                        "x": "AA",
                        "y": "AA",
                    },
                    "not-a-dict",
                ]
            }
        )
        assert list(keys) == ["r"]
        assert keys["r"].is_private is False


class TestJWKSCache:
    def test_unknown_kid_refetch_is_rate_limited(self):
        clock = Clock()
        source = FakeSource({"keys": [jwk("a")]})
        cache = JWKSCache(source, max_age=300, min_refetch_interval=30, clock=clock)

        async def scenario() -> None:
            assert await cache.get("a") is not None
            results = await asyncio.gather(*(cache.get(f"forged-{i}") for i in range(50)))
            assert results == [None] * 50
            assert source.calls == 1
            clock.now += 31
            assert await cache.get("forged-again") is None
            assert source.calls == 2

        asyncio.run(scenario())

    def test_new_kid_found_after_rotation(self):
        clock = Clock()
        source = FakeSource({"keys": [jwk("old")]}, {"keys": [jwk("old"), jwk("new")]})
        cache = JWKSCache(source, min_refetch_interval=0, clock=clock)

        async def scenario() -> None:
            assert await cache.get("old") is not None
            assert await cache.get("new") is not None

        asyncio.run(scenario())

    def test_keeps_keys_when_the_source_fails(self):
        clock = Clock()
        source = FakeSource({"keys": [jwk("a")]}, httpx.ConnectError("auth is down"), {"keys": []})
        cache = JWKSCache(source, max_age=10, min_refetch_interval=0, clock=clock)

        async def scenario() -> None:
            assert await cache.get("a") is not None
            clock.now += 60
            assert await cache.get("a") is not None
            clock.now += 60
            assert await cache.get("a") is not None
            assert source.calls == 3

        asyncio.run(scenario())

    def test_http_source_with_injected_transport(self):
        document = {"keys": [jwk("h")]}
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=document))

        async def scenario() -> None:
            async with httpx.AsyncClient(transport=transport) as client:
                cache = JWKSCache(HttpJWKSSource("http://auth/.well-known/jwks.json", client))
                assert await cache.wait_ready() is True
                assert cache.kids == ["h"]

        asyncio.run(scenario())
