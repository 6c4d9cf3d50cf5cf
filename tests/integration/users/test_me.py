from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.apps import PASSWORD, USER_FIELDS
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
            ME,
            headers=auth_headers,
            json={"email": "Alice.New@Example.com", "current_password": PASSWORD},
        )
        assert response.status_code == 200
        assert response.json()["email"] == "Alice.New@Example.com"

    async def test_own_email_in_other_case_is_allowed(
        self, users_client: httpx.AsyncClient, auth_headers
    ):
        response = await users_client.patch(
            ME,
            headers=auth_headers,
            json={"email": "ALICE@example.com", "current_password": PASSWORD},
        )
        assert response.status_code == 200
        assert response.json()["email"] == "ALICE@example.com"

    async def test_taken_email_is_409_whatever_the_case(
        self, users_client: httpx.AsyncClient, auth_headers, other_user
    ):
        response = await users_client.patch(
            ME,
            headers=auth_headers,
            json={"email": "BOB@Example.COM", "current_password": PASSWORD},
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_concurrent_claims_of_one_email_give_200_and_409(
        self, users_client: httpx.AsyncClient, auth_headers, other_headers
    ):
        body = {"email": "contested@example.com", "current_password": PASSWORD}
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
                users_client.patch(
                    ME,
                    headers=auth_headers,
                    json={"email": "Raced@example.com", "current_password": PASSWORD},
                )
            )
            await asyncio.sleep(0.5)
            assert not patch.done()  # blocked on the index until the other side commits
            await conn.commit()
            response = await patch
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_an_email_equal_to_another_accounts_username_is_409(
        self, users_client: httpx.AsyncClient, auth_headers, register_user
    ):
        await register_user("boss@example.com", email="boss.real@example.com")
        response = await users_client.patch(
            ME,
            headers=auth_headers,
            json={"email": "Boss@Example.com", "current_password": PASSWORD},
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_a_look_alike_of_another_accounts_email_is_409(
        self, users_client: httpx.AsyncClient, auth_headers, other_user
    ):
        look_alike = "\uff42\uff4f\uff42@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com"
        response = await users_client.patch(
            ME, headers=auth_headers, json={"email": look_alike, "current_password": PASSWORD}
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_the_new_email_is_the_login_and_the_old_one_is_not(
        self, users_client: httpx.AsyncClient, auth_client: httpx.AsyncClient, auth_headers
    ):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"email": "al@example.org", "current_password": PASSWORD}
        )
        assert response.status_code == 200
        new = {"username": "AL@example.org", "password": PASSWORD}
        old = {"username": "alice@example.com", "password": PASSWORD}
        assert (await auth_client.post("/api/v1/auth/login", json=new)).status_code == 200
        assert (await auth_client.post("/api/v1/auth/login", json=old)).status_code == 401

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


class TestEmailChangeNeedsThePassword:
    async def test_without_current_password_is_403(
        self, users_client: httpx.AsyncClient, auth_headers
    ):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"email": "thief@example.com"}
        )
        assert response.status_code == 403
        assert response.json()["code"] == "reauthentication_required"
        me = await users_client.get(ME, headers=auth_headers)
        assert me.json()["email"] == "alice@example.com"

    async def test_wrong_current_passwords_are_403_and_counted_like_logins(
        self, users_client: httpx.AsyncClient, auth_client: httpx.AsyncClient, auth_headers
    ):
        wrong = {"email": "thief@example.com", "current_password": "not-the-password"}
        for _ in range(5):
            response = await users_client.patch(ME, headers=auth_headers, json=wrong)
            assert response.status_code == 403
            assert response.json()["code"] == "reauthentication_required"
        right = {"email": "thief@example.com", "current_password": PASSWORD}
        response = await users_client.patch(ME, headers=auth_headers, json=right)
        assert response.status_code == 429
        assert response.json()["code"] == "too_many_attempts"
        login = await auth_client.post(
            "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert login.status_code == 429  # the same counters as logins from this address

    async def test_other_fields_need_no_password(
        self, users_client: httpx.AsyncClient, auth_headers
    ):
        response = await users_client.patch(ME, headers=auth_headers, json={"nickname": "Ally"})
        assert response.status_code == 200

    async def test_the_password_is_never_echoed(
        self, users_client: httpx.AsyncClient, auth_headers
    ):
        response = await users_client.patch(
            ME, headers=auth_headers, json={"email": "a2@example.com", "current_password": PASSWORD}
        )
        assert response.status_code == 200
        assert PASSWORD not in response.text
        assert set(response.json()) == USER_FIELDS
