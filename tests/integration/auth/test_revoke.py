"""POST /api/v1/auth/revoke (RFC 7009): refresh and access tokens, unknown tokens."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.apps import bearer

REFRESH = "/api/v1/auth/refresh"
REVOKE = "/api/v1/auth/revoke"
VERIFY = "/api/v1/auth/verify"


class TestRevoke:
    async def test_refresh_token_revokes_its_session(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        response = await auth_client.post(REVOKE, data={"token": user_tokens["refresh_token"]})
        assert response.status_code == 200
        assert (
            await auth_client.post(REFRESH, json={"refresh_token": user_tokens["refresh_token"]})
        ).status_code == 401
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 401

    async def test_access_token_revokes_only_itself(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        response = await auth_client.post(
            REVOKE, data={"token": user_tokens["access_token"], "token_type_hint": "access_token"}
        )
        assert response.status_code == 200
        rejected = await auth_client.get(VERIFY, headers=bearer(user_tokens))
        assert rejected.json()["code"] == "token_revoked"
        refreshed = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200

    async def test_access_token_without_hint(self, auth_client: httpx.AsyncClient, user_tokens):
        assert (
            await auth_client.post(REVOKE, data={"token": user_tokens["access_token"]})
        ).status_code == 200
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 401

    @pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 300])
    async def test_unknown_tokens_are_200(self, auth_client: httpx.AsyncClient, token: str):
        assert (await auth_client.post(REVOKE, data={"token": token})).status_code == 200

    async def test_missing_token_is_invalid_request(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(REVOKE, data={})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
