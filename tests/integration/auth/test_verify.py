"""GET /api/v1/auth/verify: the gateway's forward-auth check."""

from __future__ import annotations

import httpx

from tests.fixtures.apps import bearer

VERIFY = "/api/v1/auth/verify"


class TestVerify:
    async def test_forward_auth_headers(self, auth_client: httpx.AsyncClient, admin, admin_tokens):
        response = await auth_client.get(VERIFY, headers=bearer(admin_tokens))
        assert response.status_code == 200
        assert response.headers["x-auth-user-id"] == admin["id"]
        assert response.headers["x-auth-username"] == admin["username"]
        assert response.headers["x-auth-roles"] == "admin"

    async def test_no_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.get(VERIFY)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_garbage_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.get(VERIFY, headers={"Authorization": "Bearer not.a.jwt"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
