"""The shared verifier's checks, seen through /verify: every forgery is a 401."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.fixtures.jwt import b64, claims_for, segment, sign, signing_key

VERIFY = "/api/v1/auth/verify"


async def assert_rejected(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(VERIFY, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert token not in response.text


class TestForgedTokens:
    async def test_a_correctly_signed_token_passes(self, auth_client, user_tokens, keys_dir):
        token = sign(claims_for(user_tokens), signing_key(keys_dir))
        response = await auth_client.get(VERIFY, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200

    async def test_alg_none(self, auth_client, user_tokens):
        token = f"{segment({'alg': 'none', 'typ': 'at+jwt', 'kid': 'test-rs256'})}.{segment(claims_for(user_tokens))}."
        await assert_rejected(auth_client, token)

    async def test_hmac_with_the_public_key_as_secret(self, auth_client, user_tokens, keys_dir):
        # The classic confusion attack: HS256 keyed with the server's public key.
        public_pem = signing_key(keys_dir).as_pem(private=False)
        signing_input = f"{segment({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'test-rs256'})}.{segment(claims_for(user_tokens))}"
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        await assert_rejected(auth_client, f"{signing_input}.{b64(mac)}")

    async def test_wrong_typ(self, auth_client, user_tokens, keys_dir):
        await assert_rejected(
            auth_client, sign(claims_for(user_tokens), signing_key(keys_dir), typ="JWT")
        )

    @pytest.mark.parametrize(
        "overrides",
        [
            {"iss": "https://evil.example"},
            {"aud": "someone-else"},
            {"exp": -120},
            {"nbf": 600},
            {"iat": 600},
        ],
    )
    async def test_claims(self, auth_client, user_tokens, keys_dir, overrides):
        # Times are offsets from when the test runs, not from when it was collected.
        now = int(time.time())
        claims = {k: now + v if k in {"exp", "nbf", "iat"} else v for k, v in overrides.items()}
        await assert_rejected(
            auth_client, sign(claims_for(user_tokens, **claims), signing_key(keys_dir))
        )

    async def test_missing_sid(self, auth_client, user_tokens, keys_dir):
        claims = claims_for(user_tokens)
        del claims["sid"]
        await assert_rejected(auth_client, sign(claims, signing_key(keys_dir)))

    async def test_expiry_within_leeway_is_accepted(self, auth_client, user_tokens, keys_dir):
        token = sign(claims_for(user_tokens, exp=int(time.time()) - 5), signing_key(keys_dir))
        response = await auth_client.get(VERIFY, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200

    async def test_embedded_jwk_is_not_trusted(self, auth_client, user_tokens):
        attacker = RSAKey.generate_key(2048)
        token = sign(claims_for(user_tokens), attacker, jwk=attacker.as_dict(private=False))
        await assert_rejected(auth_client, token)

    @pytest.mark.parametrize("header", ["jku", "x5u"])
    async def test_key_urls_are_not_trusted(self, auth_client, user_tokens, keys_dir, header):
        token = sign(
            claims_for(user_tokens), signing_key(keys_dir), **{header: "https://evil.example/keys"}
        )
        await assert_rejected(auth_client, token)

    async def test_unknown_kid(self, auth_client, user_tokens):
        await assert_rejected(
            auth_client, sign(claims_for(user_tokens), RSAKey.generate_key(2048), kid="stranger")
        )

    async def test_right_kid_wrong_key(self, auth_client, user_tokens):
        await assert_rejected(auth_client, sign(claims_for(user_tokens), RSAKey.generate_key(2048)))

    async def test_tampered_payload(self, auth_client, user_tokens):
        header, _, signature = user_tokens["access_token"].split(".")
        forged = f"{header}.{segment(claims_for(user_tokens, roles=['admin']))}.{signature}"
        await assert_rejected(auth_client, forged)

    async def test_not_base64(self, auth_client):
        await assert_rejected(auth_client, f"{b64(b'{')}.%%%.###")
