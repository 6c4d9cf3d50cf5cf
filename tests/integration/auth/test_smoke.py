from __future__ import annotations

import httpx


class TestRegisterAndLogin:
    async def test_registered_user_can_log_in(self, auth_client: httpx.AsyncClient, user, user_tokens):
        assert user_tokens["token_type"] == "Bearer"
        response = await auth_client.get(
            "/api/v1/auth/verify", headers={"Authorization": f"Bearer {user_tokens['access_token']}"}
        )
        assert response.status_code == 200
        assert response.headers["x-auth-username"] == "alice"
