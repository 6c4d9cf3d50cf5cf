"""POST /api/v1/auth/token (RFC 6749): password and refresh_token grants, errors, throttling."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.apps import PASSWORD

TOKEN = "/api/v1/auth/token"


class TestTokenEndpoint:
    async def test_password_grant(self, auth_client: httpx.AsyncClient, user):
        response = await auth_client.post(
            TOKEN, data={"grant_type": "password", "username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        assert response.json()["token_type"] == "Bearer"

    async def test_refresh_token_grant(self, auth_client: httpx.AsyncClient, user_tokens):
        response = await auth_client.post(
            TOKEN,
            data={"grant_type": "refresh_token", "refresh_token": user_tokens["refresh_token"]},
        )
        assert response.status_code == 200
        assert response.json()["refresh_token"] != user_tokens["refresh_token"]

    @pytest.mark.parametrize(
        ("data", "status", "error"),
        [
            (
                {"grant_type": "password", "username": "alice", "password": "wrong-password"},
                400,
                "invalid_grant",
            ),
            ({"grant_type": "refresh_token", "refresh_token": "bogus"}, 400, "invalid_grant"),
            ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
            ({"grant_type": "client_credentials"}, 401, "invalid_client"),
            ({"grant_type": "password", "username": "alice"}, 400, "invalid_request"),
            ({"grant_type": "refresh_token"}, 400, "invalid_request"),
            ({"username": "alice", "password": PASSWORD}, 400, "invalid_request"),
        ],
    )
    async def test_rfc6749_errors(self, auth_client: httpx.AsyncClient, user, data, status, error):
        response = await auth_client.post(TOKEN, data=data)
        assert response.status_code == status
        assert set(response.json()) == {"error", "error_description"}
        assert response.json()["error"] == error
        assert response.headers["cache-control"] == "no-store"

    async def test_reused_refresh_token_is_invalid_grant(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        data = {"grant_type": "refresh_token", "refresh_token": user_tokens["refresh_token"]}
        assert (await auth_client.post(TOKEN, data=data)).status_code == 200
        reused = await auth_client.post(TOKEN, data=data)
        assert reused.json()["error"] == "invalid_grant"
        assert "already used" in reused.json()["error_description"]

    async def test_throttled(self, auth_client: httpx.AsyncClient, user):
        for _ in range(5):
            await auth_client.post(
                TOKEN, data={"grant_type": "password", "username": "alice", "password": "x-wrong-x"}
            )
        response = await auth_client.post(
            TOKEN, data={"grant_type": "password", "username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 429
        assert response.json()["error"] == "too_many_attempts"
        assert int(response.headers["retry-after"]) > 0
