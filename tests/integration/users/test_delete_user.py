"""DELETE /api/v1/users/{id} (admin): deactivation, revocation in both services, access."""

from __future__ import annotations

import uuid

import httpx

USERS = "/api/v1/users"


class TestDeleteUser:
    async def test_deactivates_and_revokes_in_both_services(
        self,
        users_client: httpx.AsyncClient,
        auth_client: httpx.AsyncClient,
        user,
        user_tokens,
        auth_headers,
        admin_headers,
    ):
        response = await users_client.delete(f"{USERS}/{user['id']}", headers=admin_headers)
        assert response.status_code == 204
        assert response.content == b""
        assert (await users_client.get(f"{USERS}/me", headers=auth_headers)).status_code == 401
        assert (
            await auth_client.get("/api/v1/auth/verify", headers=auth_headers)
        ).status_code == 401
        refresh = await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert refresh.status_code == 401
        shown = await users_client.get(f"{USERS}/{user['id']}", headers=admin_headers)
        assert shown.status_code == 200
        assert shown.json()["is_active"] is False

    async def test_is_idempotent(self, users_client: httpx.AsyncClient, user, admin_headers):
        first = await users_client.delete(f"{USERS}/{user['id']}", headers=admin_headers)
        second = await users_client.delete(f"{USERS}/{user['id']}", headers=admin_headers)
        assert first.status_code == second.status_code == 204

    async def test_missing_id_is_404(self, users_client: httpx.AsyncClient, admin_headers):
        response = await users_client.delete(f"{USERS}/{uuid.uuid4()}", headers=admin_headers)
        assert response.status_code == 404
        assert response.json()["code"] == "user_not_found"

    async def test_non_admin_is_403(
        self, users_client: httpx.AsyncClient, auth_headers, other_user
    ):
        response = await users_client.delete(f"{USERS}/{other_user['id']}", headers=auth_headers)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    async def test_non_admin_cannot_delete_themselves(
        self, users_client: httpx.AsyncClient, user, auth_headers
    ):
        response = await users_client.delete(f"{USERS}/{user['id']}", headers=auth_headers)
        assert response.status_code == 403

    async def test_admin_cannot_delete_themselves(
        self, users_client: httpx.AsyncClient, admin, admin_headers
    ):
        response = await users_client.delete(f"{USERS}/{admin['id']}", headers=admin_headers)
        assert response.status_code == 403
        assert response.json()["code"] == "self_lockout"

    async def test_without_token_is_401(self, users_client: httpx.AsyncClient, user):
        response = await users_client.delete(f"{USERS}/{user['id']}")
        assert response.status_code == 401
