"""POST /api/v1/auth/refresh: rotation, reuse detection, the grace window, expiry, what is stored."""

from __future__ import annotations

import httpx

from tests.fixtures.apps import bearer, register_and_login, running
from tests.fixtures.jwt import unverified

REFRESH = "/api/v1/auth/refresh"
VERIFY = "/api/v1/auth/verify"


class TestRefresh:
    async def test_rotates_the_pair(self, auth_client: httpx.AsyncClient, user_tokens):
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 200
        pair = response.json()
        assert pair["refresh_token"] != user_tokens["refresh_token"]
        _, old_claims = unverified(user_tokens["access_token"])
        _, new_claims = unverified(pair["access_token"])
        assert new_claims["sid"] == old_claims["sid"]
        assert new_claims["jti"] != old_claims["jti"]
        assert (await auth_client.get(VERIFY, headers=bearer(pair))).status_code == 200

    async def test_reuse_revokes_the_whole_session(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        first = (
            await auth_client.post(REFRESH, json={"refresh_token": user_tokens["refresh_token"]})
        ).json()
        second = (
            await auth_client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        ).json()
        reused = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert reused.status_code == 401
        assert reused.json()["code"] == "refresh_token_reused"
        # Every token descended from that login is dead: the newest refresh token and all access tokens.
        latest = await auth_client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
        assert latest.status_code == 401
        for pair in (user_tokens, first, second):
            rejected = await auth_client.get(VERIFY, headers=bearer(pair))
            assert rejected.status_code == 401
            assert rejected.json()["code"] == "token_revoked"

    async def test_reuse_within_the_grace_window_is_allowed(self, make_settings, register_user):
        from tessera_auth.app import create_app

        app = create_app(make_settings(refresh_reuse_grace_seconds=30))
        async with running(app) as client:
            pair = await register_and_login(client, "tabby")
            first = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            second = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            assert (first.status_code, second.status_code) == (200, 200)

    async def test_unknown_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(REFRESH, json={"refresh_token": "not-a-real-token"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"

    async def test_expired_session(self, auth_client: httpx.AsyncClient, user_tokens, db_engine):
        from sqlalchemy import text

        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE login_session SET expires_at = now() - interval '1 second'")
            )
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"

    async def test_only_the_hash_is_stored(
        self, auth_client: httpx.AsyncClient, user_tokens, db_engine
    ):
        from sqlalchemy import text

        async with db_engine.connect() as conn:
            stored = (
                (await conn.execute(text("SELECT token_hash FROM refresh_token"))).scalars().all()
            )
        assert len(stored) == 1
        assert user_tokens["refresh_token"].encode() not in stored[0]
        assert len(stored[0]) == 32
