"""A token's signature is checked once per worker; what the cache must never change."""

from __future__ import annotations

import time
import uuid
import warnings
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from tessera_core.errors import InvalidToken
from tessera_core.tokens import JWKSCache, StaticJWKSSource, TokenVerifier

ISSUER, AUDIENCE = "https://issuer.test", "tessera-test"


class AllowAll:
    async def check(self, issuer: str, *, jti: str, sid: str, user_id: str, issued_at: int):
        return None


def public_jwks(key: ECKey, kid: str = "k1") -> dict[str, Any]:
    return {"keys": [{**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}]}


def token(key: ECKey, *, kid: str = "k1", ttl: int = 300) -> str:
    now = int(time.time())
    claims = {
        **{"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "sid": "s1", "jti": uuid.uuid4().hex},
        **{"client_id": "c", "preferred_username": "ann", "roles": []},
        **{"iat": now, "exp": now + ttl},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode({"alg": "ES256", "kid": kid, "typ": "at+jwt"}, claims, key)


class Holder:
    """The key set the verifier's source answers with; tests replace it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document


@pytest.fixture
def signing() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture
def holder(signing) -> Holder:
    return Holder(public_jwks(signing))


@pytest.fixture
def verifier(holder) -> TokenVerifier:
    jwks = JWKSCache(StaticJWKSSource(lambda: holder.document), min_refetch_interval=0)
    return TokenVerifier(
        jwks=jwks, revocation=AllowAll(), issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"]
    )


async def test_a_second_check_skips_the_signature(verifier, signing, monkeypatch):
    issued = token(signing)
    first = await verifier.verify(issued)
    calls = []
    original = jws.deserialize_compact

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(jws, "deserialize_compact", counted)
    assert await verifier.verify(issued) == first
    assert calls == []


async def test_a_rotated_key_set_checks_the_signature_again(verifier, holder, signing):
    issued = token(signing)
    await verifier.verify(issued)
    holder.document = public_jwks(ECKey.generate_key("P-256"))  # same kid, another key
    await verifier.jwks.refresh(force=True)
    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(issued)


async def test_a_removed_key_refuses_what_it_verified(verifier, holder, signing):
    issued = token(signing)
    await verifier.verify(issued)
    holder.document = public_jwks(signing, kid="k2")
    await verifier.jwks.refresh(force=True)
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.verify(issued)


async def test_expiry_is_checked_on_every_call(verifier, signing):
    issued = token(signing, ttl=60)
    await verifier.verify(issued)
    verifier.clock = lambda: time.time() + 60 + verifier.leeway + 1
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(issued)


async def test_another_signature_on_a_known_payload_is_checked(verifier, signing):
    issued = token(signing)
    await verifier.verify(issued)
    header, payload, signature = issued.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    with pytest.raises(InvalidToken):
        await verifier.verify(forged)


async def test_the_cache_is_bounded(verifier, signing, monkeypatch):
    monkeypatch.setattr("tessera_core.tokens.verify.VERIFIED_TOKENS_MAX", 3)
    tokens = [token(signing) for _ in range(5)]
    for issued in tokens:
        await verifier.verify(issued)
    assert list(verifier._verified) == tokens[-3:]
