"""POST /api/v1/auth/login: the token pair, equal-time refusals, inactive accounts, last_login, rehashing."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.fixtures.apps import PASSWORD

LOGIN = "/api/v1/auth/login"


class TestLogin:
    async def test_returns_a_token_pair(self, auth_client: httpx.AsyncClient, user):
        response = await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200
        pair = response.json()
        assert set(pair) == {
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "refresh_expires_in",
        }
        assert (pair["token_type"], pair["expires_in"], pair["refresh_expires_in"]) == (
            "Bearer",
            900,
            7 * 86400,
        )
        assert len(pair["refresh_token"]) >= 43  # 256 bits, base64url
        assert response.headers["cache-control"] == "no-store"

    async def test_accepts_the_email_case_insensitively(self, auth_client: httpx.AsyncClient, user):
        response = await auth_client.post(
            LOGIN, json={"username": "ALICE@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200

    @pytest.mark.real_argon2
    async def test_unknown_user_and_wrong_password_look_the_same(
        self, auth_client: httpx.AsyncClient, user
    ):
        timings, bodies = [], []
        for username in ("alice", "nobody-here", "alice", "nobody-here"):
            started = time.perf_counter()
            response = await auth_client.post(
                LOGIN, json={"username": username, "password": "wrong-password"}
            )
            timings.append(time.perf_counter() - started)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            bodies.append(response.json())
        assert all(b == bodies[0] for b in bodies)
        assert bodies[0]["code"] == "invalid_credentials"
        # Both paths run one argon2 verification: neither is an order of magnitude faster.
        known, unknown = min(timings[0], timings[2]), min(timings[1], timings[3])
        assert 0.2 < known / unknown < 5

    async def test_inactive_account_is_401(self, auth_client: httpx.AsyncClient, user, db_engine):
        from sqlalchemy import text

        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE \"user\" SET is_active = false WHERE username = 'alice'")
            )
        response = await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    async def test_records_last_login(self, auth_client: httpx.AsyncClient, user, db_engine):
        from sqlalchemy import text

        before = datetime.now(UTC)
        await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        async with db_engine.connect() as conn:
            last_login = await conn.scalar(
                text("SELECT last_login FROM \"user\" WHERE username = 'alice'")
            )
        assert before <= last_login <= datetime.now(UTC)

    @pytest.mark.real_argon2
    async def test_rehashes_when_parameters_change(
        self, auth_client: httpx.AsyncClient, user, db_engine
    ):
        from argon2 import PasswordHasher as Argon2
        from sqlalchemy import text

        weak_hash = Argon2(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE \"user\" SET password_hash = :h WHERE username = 'alice'"),
                {"h": weak_hash},
            )
        assert (
            await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        ).status_code == 200
        async with db_engine.connect() as conn:
            stored = await conn.scalar(
                text("SELECT password_hash FROM \"user\" WHERE username = 'alice'")
            )
        assert stored != weak_hash
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
