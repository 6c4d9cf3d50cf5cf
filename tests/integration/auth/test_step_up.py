"""Step-up at the auth service: a password change needs a recent login, with the second
factor where the account has one; an admin's removal of someone's factors too."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyotp
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.apps import (
    PASSWORD,
    aged,
    bearer,
    enable_totp,
    log_in,
    promote_to_admin,
    register_and_login,
)
from tests.fixtures.jwt import unverified

PASSWORD_CHANGE = "/api/v1/auth/password"
NEW_PASSWORD = {"current_password": PASSWORD, "new_password": "saffron-orbit-7741"}


async def with_totp(client: httpx.AsyncClient, pair: dict[str, Any]) -> pyotp.TOTP:
    secret, _ = await enable_totp(client, pair)
    return pyotp.TOTP(secret)


async def second_factor_login(
    client: httpx.AsyncClient, username: str, totp: pyotp.TOTP
) -> dict[str, Any]:
    challenge = (
        await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    ).json()["challenge"]
    answered = await client.post(
        "/api/v1/auth/login/second-factor",
        json={"challenge": challenge, "code": totp.at(time.time() + 30)},
    )
    assert answered.status_code == 200, answered.text
    return dict(answered.json())


class TestPasswordChange:
    async def test_needs_a_login_of_the_last_ten_minutes(
        self, auth_client: httpx.AsyncClient, db_engine: AsyncEngine
    ):
        pair = await aged(auth_client, db_engine, await register_and_login(auth_client, "ida"), 601)
        refused = await auth_client.post(PASSWORD_CHANGE, json=NEW_PASSWORD, headers=bearer(pair))
        assert (refused.status_code, refused.json()["code"]) == (
            401,
            "insufficient_user_authentication",
        )
        assert 'max_age="600"' in refused.headers["www-authenticate"]
        fresh = await register_and_login(auth_client, "ida2")
        fresh = await aged(auth_client, db_engine, fresh, 590)
        changed = await auth_client.post(PASSWORD_CHANGE, json=NEW_PASSWORD, headers=bearer(fresh))
        assert changed.status_code == 204, changed.text

    async def test_an_account_with_totp_needs_a_login_with_a_code(
        self, auth_client: httpx.AsyncClient
    ):
        pair = await register_and_login(auth_client, "tomas")
        totp = await with_totp(auth_client, pair)
        # The session that turned TOTP on was proved by the password alone.
        refused = await auth_client.post(PASSWORD_CHANGE, json=NEW_PASSWORD, headers=bearer(pair))
        assert refused.json()["code"] == "insufficient_user_authentication"
        assert 'acr_values="mfa"' in refused.headers["www-authenticate"]
        stepped_up = await second_factor_login(auth_client, "tomas", totp)
        changed = await auth_client.post(
            PASSWORD_CHANGE, json=NEW_PASSWORD, headers=bearer(stepped_up)
        )
        assert changed.status_code == 204, changed.text


class TestAdminRemovesFactors:
    async def test_a_recent_admin_turns_a_users_totp_off_and_ends_their_sessions(
        self, auth_client: httpx.AsyncClient, db_engine: AsyncEngine, database_url: str
    ):
        user = await register_and_login(auth_client, "lost")
        await with_totp(auth_client, user)
        user_id = unverified(user["access_token"])[1]["sub"]
        admin = await register_and_login(auth_client, "keeper")
        await promote_to_admin(database_url, unverified(admin["access_token"])[1]["sub"])
        admin = await log_in(auth_client, "keeper")
        path = f"/api/v1/auth/admin/users/{user_id}/factors"

        stale = await aged(auth_client, db_engine, admin, 601)
        refused = await auth_client.delete(path, headers=bearer(stale))
        assert refused.json()["code"] == "insufficient_user_authentication"
        fresh = await log_in(auth_client, "keeper")
        shown = await auth_client.get(path, headers=bearer(fresh))
        assert (shown.json()["totp_enabled"], shown.json()["recovery_codes_left"]) == (True, 10)
        removed = await auth_client.delete(path, headers=bearer(fresh))
        assert removed.status_code == 204, removed.text
        shown = await auth_client.get(path, headers=bearer(fresh))
        assert (shown.json()["totp_enabled"], shown.json()["recovery_codes_left"]) == (False, 0)
        assert (
            await auth_client.get("/api/v1/auth/verify", headers=bearer(user))
        ).status_code == 401
        login = await auth_client.post(
            "/api/v1/auth/login", json={"username": "lost", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        again = await auth_client.delete(path, headers=bearer(fresh))
        assert (again.status_code, again.json()["code"]) == (409, "totp_not_enabled")
        nobody = await auth_client.delete(
            "/api/v1/auth/admin/users/00000000-0000-0000-0000-000000000000/factors",
            headers=bearer(fresh),
        )
        assert (nobody.status_code, nobody.json()["code"]) == (404, "user_not_found")
        not_admin = await auth_client.delete(path, headers=bearer(login.json()))
        assert not_admin.status_code == 403
