"""POST /logout, /logout-all, /logout-others; GET and DELETE /sessions."""

from __future__ import annotations

import httpx

from tests.fixtures.apps import bearer
from tests.fixtures.jwt import unverified

VERIFY = "/api/v1/auth/verify"
REFRESH = "/api/v1/auth/refresh"


class TestLogout:
    async def test_revokes_the_session_at_once(self, auth_client: httpx.AsyncClient, user_tokens):
        response = await auth_client.post(
            "/api/v1/auth/logout", json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 204
        rejected = await auth_client.get(VERIFY, headers=bearer(user_tokens))
        assert rejected.status_code == 401
        assert rejected.json()["code"] == "token_revoked"
        assert (
            await auth_client.post(REFRESH, json={"refresh_token": user_tokens["refresh_token"]})
        ).status_code == 401

    async def test_with_bearer_revokes_the_access_token(
        self, auth_client: httpx.AsyncClient, user_tokens, db_engine
    ):
        from sqlalchemy import text

        response = await auth_client.post(
            "/api/v1/auth/logout",
            json={"refresh_token": user_tokens["refresh_token"]},
            headers=bearer(user_tokens),
        )
        assert response.status_code == 204
        _, claims = unverified(user_tokens["access_token"])
        async with db_engine.connect() as conn:
            jtis = (
                (await conn.execute(text("SELECT jti FROM revoked_access_token"))).scalars().all()
            )
        assert jtis == [claims["jti"]]

    async def test_other_sessions_stay(self, auth_client: httpx.AsyncClient, user, login):
        first, second = await login("alice"), await login("alice")
        await auth_client.post(
            "/api/v1/auth/logout", json={"refresh_token": first["refresh_token"]}
        )
        assert (await auth_client.get(VERIFY, headers=bearer(second))).status_code == 200

    async def test_unknown_refresh_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post("/api/v1/auth/logout", json={"refresh_token": "nope"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"

    async def test_twice_is_harmless(self, auth_client: httpx.AsyncClient, user_tokens):
        body = {"refresh_token": user_tokens["refresh_token"]}
        assert (await auth_client.post("/api/v1/auth/logout", json=body)).status_code == 204
        assert (await auth_client.post("/api/v1/auth/logout", json=body)).status_code == 204


class TestLogoutAll:
    async def test_revokes_every_session(self, auth_client: httpx.AsyncClient, user, login):
        pairs = [await login("alice") for _ in range(3)]
        response = await auth_client.post("/api/v1/auth/logout-all", headers=bearer(pairs[0]))
        assert response.status_code == 204
        for pair in pairs:
            assert (await auth_client.get(VERIFY, headers=bearer(pair))).status_code == 401
            assert (
                await auth_client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            ).status_code == 401
        fresh = await login("alice")
        assert (await auth_client.get(VERIFY, headers=bearer(fresh))).status_code == 200

    async def test_leaves_other_users_alone(
        self, auth_client: httpx.AsyncClient, user_tokens, admin_tokens
    ):
        await auth_client.post("/api/v1/auth/logout-all", headers=bearer(user_tokens))
        assert (await auth_client.get(VERIFY, headers=bearer(admin_tokens))).status_code == 200

    async def test_requires_a_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post("/api/v1/auth/logout-all")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


class TestLogoutOthers:
    async def test_ends_every_other_session_and_keeps_this_one(
        self, auth_client: httpx.AsyncClient, user, admin_tokens, login
    ):
        pairs = [await login("alice") for _ in range(3)]
        response = await auth_client.post("/api/v1/auth/logout-others", headers=bearer(pairs[0]))
        assert response.status_code == 204
        for pair in pairs[1:]:
            rejected = await auth_client.get(VERIFY, headers=bearer(pair))
            assert (rejected.status_code, rejected.json()["code"]) == (401, "token_revoked")
            assert (
                await auth_client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            ).status_code == 401
        assert (await auth_client.get(VERIFY, headers=bearer(pairs[0]))).status_code == 200
        refreshed = await auth_client.post(
            REFRESH, json={"refresh_token": pairs[0]["refresh_token"]}
        )
        assert refreshed.status_code == 200
        listed = await auth_client.get("/api/v1/auth/sessions", headers=bearer(refreshed.json()))
        assert [s["current"] for s in listed.json()] == [True]
        assert (await auth_client.get(VERIFY, headers=bearer(admin_tokens))).status_code == 200

    async def test_requires_a_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post("/api/v1/auth/logout-others")
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


class TestListSessions:
    async def test_lists_active_sessions(self, auth_client: httpx.AsyncClient, user, login):
        first = await login("alice")
        second = await login("alice")
        await auth_client.post(
            "/api/v1/auth/logout", json={"refresh_token": first["refresh_token"]}
        )
        response = await auth_client.get("/api/v1/auth/sessions", headers=bearer(second))
        assert response.status_code == 200
        (session,) = response.json()
        _, claims = unverified(second["access_token"])
        assert session["id"] == claims["sid"]
        assert session["current"] is True
        assert {"id", "created_at", "last_used_at", "user_agent", "ip"} <= set(session)
        assert session["ip"] == "127.0.0.1"
        assert session["user_agent"].startswith("python-httpx")

    async def test_requires_a_token(self, auth_client: httpx.AsyncClient):
        assert (await auth_client.get("/api/v1/auth/sessions")).status_code == 401


class TestDeleteSession:
    async def test_revokes_one_session(self, auth_client: httpx.AsyncClient, user, login):
        keep, drop = await login("alice"), await login("alice")
        _, claims = unverified(drop["access_token"])
        response = await auth_client.delete(
            f"/api/v1/auth/sessions/{claims['sid']}", headers=bearer(keep)
        )
        assert response.status_code == 204
        assert (await auth_client.get(VERIFY, headers=bearer(drop))).status_code == 401
        assert (await auth_client.get(VERIFY, headers=bearer(keep))).status_code == 200

    async def test_another_users_session_is_404(
        self, auth_client: httpx.AsyncClient, user_tokens, admin_tokens
    ):
        _, claims = unverified(admin_tokens["access_token"])
        response = await auth_client.delete(
            f"/api/v1/auth/sessions/{claims['sid']}", headers=bearer(user_tokens)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "session_not_found"
        assert (await auth_client.get(VERIFY, headers=bearer(admin_tokens))).status_code == 200

    async def test_malformed_id_is_422(self, auth_client: httpx.AsyncClient, user_tokens):
        response = await auth_client.delete(
            "/api/v1/auth/sessions/not-a-uuid", headers=bearer(user_tokens)
        )
        assert response.status_code == 422
