"""POST /api/v1/auth/password: the current password, the policy, the sessions it ends."""

from __future__ import annotations

import httpx

from tests.fixtures.apps import PASSWORD

LOGIN = "/api/v1/auth/login"


class TestChangePassword:
    NEW = "new-passphrase-2026"

    async def test_changes_password_and_revokes_other_sessions(
        self, auth_client: httpx.AsyncClient, user, login
    ):
        other = await login(user["username"])
        current = await login(user["username"])
        headers = {"Authorization": f"Bearer {current['access_token']}"}
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": self.NEW},
            headers=headers,
        )
        assert response.status_code == 204
        other_headers = {"Authorization": f"Bearer {other['access_token']}"}
        rejected = await auth_client.get("/api/v1/auth/verify", headers=other_headers)
        assert rejected.status_code == 401
        assert rejected.json()["code"] == "token_revoked"
        refresh = await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
        )
        assert refresh.status_code == 401
        assert (await auth_client.get("/api/v1/auth/verify", headers=headers)).status_code == 200
        old = await auth_client.post(
            "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert old.status_code == 401
        await login("alice", self.NEW)

    async def test_wrong_current_password(self, auth_client: httpx.AsyncClient, auth_headers):
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": "not-my-password", "new_password": self.NEW},
            headers=auth_headers,
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_current_password"

    async def test_wrong_current_passwords_are_counted_like_logins(
        self, auth_client: httpx.AsyncClient, auth_headers
    ):
        """A stolen access token cannot guess the current password without limit."""
        wrong = {"current_password": "not-my-password", "new_password": self.NEW}
        for _ in range(5):
            response = await auth_client.post(
                "/api/v1/auth/password", json=wrong, headers=auth_headers
            )
            assert response.status_code == 400
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": self.NEW},
            headers=auth_headers,
        )
        assert response.status_code == 429
        assert response.json()["code"] == "too_many_attempts"
        assert int(response.headers["retry-after"]) > 0
        # The same counters as logins of the account from this address.
        login = await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 429

    async def test_weak_new_password(self, auth_client: httpx.AsyncClient, auth_headers):
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "qwerty123"},
            headers=auth_headers,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "new_password"

    async def test_requires_a_bearer_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(
            "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": self.NEW}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response.headers["www-authenticate"] == "Bearer"
