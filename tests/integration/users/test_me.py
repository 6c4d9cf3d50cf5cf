from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.apps import USER_FIELDS
from tests.fixtures.users import FAKE_HASH

ME = "/api/v1/users/me"


class TestReadMe:
    async def test_returns_the_caller(self, users_client: httpx.AsyncClient, user, auth_headers):
        response = await users_client.get(ME, headers=auth_headers)
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == user["id"]
        assert body["username"] == "alice"
        assert body["nickname"] == "Al"
        assert set(body) == USER_FIELDS

    async def test_without_token_is_401_not_authenticated(self, users_client: httpx.AsyncClient):
        response = await users_client.get(ME)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "not_authenticated"

    async def test_garbage_token_is_401_invalid_token(self, users_client: httpx.AsyncClient):
        response = await users_client.get(ME, headers={"Authorization": "Bearer not.a.jwt"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    async def test_row_deactivated_behind_its_back_is_401(
        self, users_client: httpx.AsyncClient, user, auth_headers, db_engine: AsyncEngine
    ):
        async with db_engine.begin() as conn:
            await conn.execute(
                text('UPDATE "user" SET is_active = false WHERE id = :id'), {"id": user["id"]}
            )
        response = await users_client.get(ME, headers=auth_headers)
        assert response.status_code == 401
        assert response.json()["code"] == "token_revoked"


class TestUpdateMe:
    async def test_changes_the_fields_sent(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"first_name": "Alice", "last_name": "Liddell"}
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["first_name"], body["last_name"], body["nickname"]) == (
            "Alice",
            "Liddell",
            "Al",
        )
        again = await users_client.get(ME, headers=auth_headers)
        assert again.json()["last_name"] == "Liddell"

    async def test_changes_the_email(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"email": "Alice.New@Example.com"}
        )
        assert response.status_code == 200
        assert response.json()["email"] == "Alice.New@Example.com"

    async def test_own_email_in_other_case_is_allowed(
        self, users_client: httpx.AsyncClient, auth_headers
    ):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"email": "ALICE@example.com"}
        )
        assert response.status_code == 200
        assert response.json()["email"] == "ALICE@example.com"

    async def test_taken_email_is_409_whatever_the_case(
        self, users_client: httpx.AsyncClient, auth_headers, other_user
    ):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"email": "BOB@Example.COM"}
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_concurrent_claims_of_one_email_give_200_and_409(
        self, users_client: httpx.AsyncClient, auth_headers, other_headers
    ):
        body = {"email": "contested@example.com"}
        responses = await asyncio.gather(
            users_client.patch(ME, headers=auth_headers, json=body),
            users_client.patch(ME, headers=other_headers, json=body),
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        conflict = next(r for r in responses if r.status_code == 409)
        assert conflict.json()["code"] == "email_taken"

    async def test_email_taken_by_a_concurrent_transaction_is_409_not_500(
        self, users_client: httpx.AsyncClient, auth_headers, db_engine: AsyncEngine
    ):
        # Another transaction inserts the email and has not committed: the service's check
        # cannot see it, so only the unique index catches the race.
        async with db_engine.connect() as conn:
            await conn.execute(
                text(
                    'INSERT INTO "user" (id, username, email, password_hash) '
                    "VALUES (gen_random_uuid(), 'racer', 'raced@example.com', :hash)"
                ),
                {"hash": FAKE_HASH},
            )
            patch = asyncio.create_task(
                users_client.patch(ME, headers=auth_headers, json={"email": "Raced@example.com"})
            )
            await asyncio.sleep(0.5)
            assert not patch.done()  # blocked on the index until the other side commits
            await conn.commit()
            response = await patch
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_unknown_field_is_422(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"nickname": "x", "password_hash": "x"}
        )
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "validation_failed"
        assert {"field": "password_hash", "message": "unknown field"} in body["errors"]

    async def test_username_is_not_changeable(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.patch(ME, headers=auth_headers, json={"username": "mallory"})
        assert response.status_code == 422

    async def test_null_is_422(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.patch(ME, headers=auth_headers, json={"nickname": None})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "nickname"

    async def test_invalid_email_is_422(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"email": "not-an-email"}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "email"

    async def test_too_long_name_is_422(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"first_name": "x" * 151}
        )
        assert response.status_code == 422

    async def test_non_admin_setting_is_admin_is_403_forbidden_field(
        self, users_client: httpx.AsyncClient, auth_headers
    ):
        response = await users_client.patch(ME, headers=auth_headers, json={"is_admin": True})
        assert response.status_code == 403
        body: dict[str, Any] = response.json()
        assert body["code"] == "forbidden_field"
        assert body["errors"][0]["field"] == "is_admin"
        me = await users_client.get(ME, headers=auth_headers)
        assert me.json()["is_admin"] is False

    async def test_non_admin_setting_is_active_is_403_forbidden_field(
        self, users_client: httpx.AsyncClient, auth_headers
    ):
        response = await users_client.patch(ME, headers=auth_headers, json={"is_active": False})
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden_field"

    async def test_admin_cannot_demote_themselves(
        self, users_client: httpx.AsyncClient, admin_headers
    ):
        response = await users_client.patch(ME, headers=admin_headers, json={"is_admin": False})
        assert response.status_code == 403
        assert response.json()["code"] == "self_lockout"

    async def test_without_token_is_401(self, users_client: httpx.AsyncClient):
        response = await users_client.patch(ME, json={"nickname": "x"})
        assert response.status_code == 401
