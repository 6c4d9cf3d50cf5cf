"""The access token: RFC 9068 header and claims, the admin role, the signing algorithms."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tessera_core.tokens.keygen import write_private_key
from tests.fixtures.apps import ISSUER, bearer, register_and_login, running
from tests.fixtures.jwt import unverified

VERIFY = "/api/v1/auth/verify"


class TestTokenFormat:
    async def test_rfc9068_header_and_claims(
        self, auth_client: httpx.AsyncClient, user, user_tokens
    ):
        header, claims = unverified(user_tokens["access_token"])
        assert header == {"typ": "at+jwt", "alg": "RS256", "kid": "test-rs256"}
        assert {
            "iss",
            "aud",
            "sub",
            "exp",
            "iat",
            "jti",
            "sid",
            "client_id",
            "preferred_username",
            "roles",
        } <= set(claims)
        assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, "tessera", user["id"])
        assert claims["exp"] - claims["iat"] == 900
        assert (claims["preferred_username"], claims["roles"]) == ("alice", [])

    async def test_admin_role(self, admin_tokens):
        _, claims = unverified(admin_tokens["access_token"])
        assert claims["roles"] == ["admin"]

    @pytest.mark.parametrize(("algorithm", "kty"), [("ES256", "EC"), ("EdDSA", "OKP")])
    async def test_other_algorithms_selectable(
        self, make_settings, tmp_path: Path, algorithm: str, kty: str
    ):
        from tessera_auth.app import create_app

        write_private_key(tmp_path, algorithm, kid=f"k-{algorithm.lower()}")
        app = create_app(make_settings(keys_dir=tmp_path))
        async with running(app) as client:
            pair = await register_and_login(client, "eddie")
            header, _ = unverified(pair["access_token"])
            assert header["alg"] == algorithm
            assert (await client.get(VERIFY, headers=bearer(pair))).status_code == 200
            jwks = (await client.get("/.well-known/jwks.json")).json()
            assert [(k["kty"], k["alg"]) for k in jwks["keys"]] == [(kty, algorithm)]
