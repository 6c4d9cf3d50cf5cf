"""What ``/refresh`` answers: the pair's shape and headers, and the requests it refuses."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.apps import bearer

REFRESH = "/api/v1/auth/refresh"
VERIFY = "/api/v1/auth/verify"


class TestRefresh:
    async def test_the_rotated_pair_has_its_shape_and_headers(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "refresh_expires_in",
        }
        assert response.json()["token_type"] == "Bearer"

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [
            (b'{"refresh_token": "x", "extra": 1}', "application/json"),
            (b"{not json", "application/json"),
            (b"[]", "application/json"),
            (b"refresh_token=x", "application/x-www-form-urlencoded"),
        ],
    )
    async def test_a_body_it_cannot_read_is_422(
        self, auth_client: httpx.AsyncClient, content: bytes, content_type: str
    ):
        response = await auth_client.post(
            REFRESH, content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_a_chunked_body_is_read(self, auth_client: httpx.AsyncClient, user_tokens):
        async def chunks():
            yield b'{"refresh_token": "'
            yield user_tokens["refresh_token"].encode() + b'"}'

        response = await auth_client.post(
            REFRESH, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200
        assert (await auth_client.get(VERIFY, headers=bearer(response.json()))).status_code == 200

    async def test_an_inactive_account_is_refused(
        self, auth_client: httpx.AsyncClient, user_tokens, db_engine
    ):
        from sqlalchemy import text

        async with db_engine.begin() as conn:
            await conn.execute(text('UPDATE "user" SET is_active = false'))
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"
