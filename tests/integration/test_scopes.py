"""Scopes end to end: what each login's tokens carry, narrowing at ``/token``, the 403 of a
token without the route's scope, ``/verify``'s header and requirement, refresh keeping a
narrowed scope (and losing one the user lost), and a token minted before scopes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from tessera_core.db.models import User
from tests.fixtures.apps import PASSWORD, bearer, enable_totp, log_in
from tests.fixtures.jwt import claims_for, sign, signing_key, unverified

TOKEN = "/api/v1/auth/token"
VERIFY = "/api/v1/auth/verify"
ME = "/api/v1/users/me"
USER_SCOPE = "profile:read profile:write sessions:write"
ADMIN_SCOPE = "profile:read profile:write sessions:write users:read users:write"


async def password_grant(client: httpx.AsyncClient, username: str, **form: str) -> httpx.Response:
    return await client.post(
        TOKEN,
        data={"grant_type": "password", "username": username, "password": PASSWORD, **form},
    )


def next_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30)


def scope_claim(pair: dict[str, Any]) -> str | None:
    _, claims = unverified(pair["access_token"])
    return claims.get("scope")


def assert_insufficient_scope(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 403, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "insufficient_scope"
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{scope}"'
    )


async def set_admin(database_url: str, user_id: str, is_admin: bool) -> None:
    """Change the flag in the database only, without the revocation the API would do."""
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            update(User).where(User.id == uuid.UUID(user_id)).values(is_admin=is_admin)
        )
    await engine.dispose()


class TestHumanLogins:
    async def test_a_users_login_carries_every_user_scope(self, user_tokens):
        assert scope_claim(user_tokens) == USER_SCOPE

    async def test_an_admins_login_carries_every_scope(self, admin_tokens):
        assert scope_claim(admin_tokens) == ADMIN_SCOPE

    async def test_the_login_pair_keeps_api_md_s_shape(self, user_tokens):
        assert "scope" not in user_tokens

    async def test_refresh_keeps_every_scope(self, auth_client, user_tokens):
        response = await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 200
        assert scope_claim(response.json()) == USER_SCOPE


class TestTokenEndpoint:
    async def test_without_scope_grants_every_scope_and_says_so(self, auth_client, user):
        response = await password_grant(auth_client, "alice")
        assert response.status_code == 200
        assert response.json()["scope"] == USER_SCOPE
        assert scope_claim(response.json()) == USER_SCOPE

    async def test_a_subset_narrows_the_token(self, auth_client, users_client, user):
        response = await password_grant(auth_client, "alice", scope="profile:read")
        assert response.status_code == 200
        pair = response.json()
        assert pair["scope"] == "profile:read"
        assert scope_claim(pair) == "profile:read"
        assert (await users_client.get(ME, headers=bearer(pair))).status_code == 200
        refused = await users_client.patch(ME, headers=bearer(pair), json={"nickname": "x"})
        assert_insufficient_scope(refused, "profile:write")

    async def test_an_admin_may_ask_for_a_users_scope(self, auth_client, users_client, admin):
        response = await password_grant(auth_client, admin["username"], scope="users:read")
        assert response.status_code == 200
        pair = response.json()
        assert pair["scope"] == "users:read"
        assert (await users_client.get("/api/v1/users", headers=bearer(pair))).status_code == 200
        assert_insufficient_scope(await users_client.get(ME, headers=bearer(pair)), "profile:read")

    @pytest.mark.parametrize("scope", ["users:read", "profile:read users:write", "admin", "x y"])
    async def test_a_scope_the_user_may_not_hold_is_invalid_scope(self, auth_client, user, scope):
        response = await password_grant(auth_client, "alice", scope=scope)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"
        assert response.headers["cache-control"] == "no-store"

    async def test_refresh_keeps_the_narrowed_scope(self, auth_client, user):
        pair = (await password_grant(auth_client, "alice", scope="profile:read")).json()
        by_token = await auth_client.post(
            TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
        )
        assert by_token.status_code == 200
        assert by_token.json()["scope"] == "profile:read"
        by_refresh = await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": by_token.json()["refresh_token"]}
        )
        assert by_refresh.status_code == 200
        assert scope_claim(by_refresh.json()) == "profile:read"

    async def test_refresh_drops_a_scope_the_user_lost(self, auth_client, admin, database_url):
        pair = (
            await password_grant(auth_client, admin["username"], scope="users:read profile:read")
        ).json()
        await set_admin(database_url, admin["id"], False)
        response = await auth_client.post(
            TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
        )
        assert response.status_code == 200
        assert response.json()["scope"] == "profile:read"
        assert scope_claim(response.json()) == "profile:read"

    async def test_a_human_sessions_refresh_follows_the_roles(
        self, auth_client, user, database_url
    ):
        pair = (await password_grant(auth_client, "alice")).json()
        await set_admin(database_url, user["id"], True)
        response = await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert scope_claim(response.json()) == ADMIN_SCOPE

    async def test_a_second_factor_keeps_the_narrowing(self, auth_client, users_client, user):
        secret, _ = await enable_totp(auth_client, await log_in(auth_client, "alice"))
        asked = await password_grant(auth_client, "alice", scope="profile:read")
        assert asked.status_code == 403
        assert asked.json()["error"] == "mfa_required"
        answered = await auth_client.post(
            "/api/v1/auth/login/second-factor",
            # The next step's code: the current one confirmed the enrolment and is spent.
            json={"challenge": asked.json()["challenge"], "code": next_code(secret)},
        )
        assert answered.status_code == 200, answered.text
        assert scope_claim(answered.json()) == "profile:read"
        refused = await users_client.patch(
            ME, headers=bearer(answered.json()), json={"nickname": "x"}
        )
        assert_insufficient_scope(refused, "profile:write")
        refreshed = await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": answered.json()["refresh_token"]}
        )
        assert scope_claim(refreshed.json()) == "profile:read"

    async def test_a_refresh_may_narrow_its_access_token(self, auth_client, user):
        pair = (await password_grant(auth_client, "alice")).json()
        narrow = await auth_client.post(
            TOKEN,
            data={
                "grant_type": "refresh_token",
                "refresh_token": pair["refresh_token"],
                "scope": "profile:read",
            },
        )
        assert narrow.status_code == 200, narrow.text
        assert narrow.json()["scope"] == "profile:read"
        assert scope_claim(narrow.json()) == "profile:read"
        # The session keeps its own scope: the next refresh may ask for all of it again.
        whole = await auth_client.post(
            TOKEN,
            data={"grant_type": "refresh_token", "refresh_token": narrow.json()["refresh_token"]},
        )
        assert whole.json()["scope"] == USER_SCOPE

    @pytest.mark.parametrize("scope", ["profile:write", "users:read", "nonsense"])
    async def test_a_wider_refresh_scope_is_refused_and_spends_nothing(
        self, auth_client, user, scope
    ):
        pair = (await password_grant(auth_client, "alice", scope="profile:read")).json()
        refused = await auth_client.post(
            TOKEN,
            data={
                "grant_type": "refresh_token",
                "refresh_token": pair["refresh_token"],
                "scope": scope,
            },
        )
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_scope"
        still = await auth_client.post(
            TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
        )
        assert still.status_code == 200, still.text
        assert still.json()["scope"] == "profile:read"


class TestMetadata:
    async def test_rfc_8414_lists_the_vocabulary(self, auth_client):
        response = await auth_client.get("/.well-known/oauth-authorization-server")
        assert response.json()["scopes_supported"] == ADMIN_SCOPE.split(" ")


class TestVerify:
    async def test_passes_the_scopes_on(self, auth_client, user_tokens):
        response = await auth_client.get(VERIFY, headers=bearer(user_tokens))
        assert response.status_code == 200
        assert response.headers["x-auth-scope"] == USER_SCOPE

    async def test_a_narrowed_tokens_scopes(self, auth_client, user):
        pair = (await password_grant(auth_client, "alice", scope="sessions:write")).json()
        response = await auth_client.get(VERIFY, headers=bearer(pair))
        assert response.headers["x-auth-scope"] == "sessions:write"

    async def test_a_required_scope_held_passes(self, auth_client, user_tokens):
        response = await auth_client.get(
            VERIFY, params={"scope": "profile:read"}, headers=bearer(user_tokens)
        )
        assert response.status_code == 200

    @pytest.mark.parametrize("scope", ["users:read", "tasks:read"])
    async def test_a_required_scope_not_held_is_403(self, auth_client, user_tokens, scope):
        response = await auth_client.get(
            VERIFY, params={"scope": scope}, headers=bearer(user_tokens)
        )
        assert_insufficient_scope(response, scope)

    async def test_a_required_scope_still_needs_a_valid_token(self, auth_client):
        response = await auth_client.get(VERIFY, params={"scope": "profile:read"})
        assert response.status_code == 401


class TestTokensMintedBeforeScopes:
    """A token without ``scope`` (minted before this change) works as before until it
    expires: it holds everything its roles allow."""

    def old(self, pair: dict[str, Any], keys_dir) -> dict[str, str]:
        claims = claims_for(pair)
        del claims["scope"]
        return {"Authorization": f"Bearer {sign(claims, signing_key(keys_dir))}"}

    async def test_a_users_old_token(self, auth_client, users_client, user_tokens, keys_dir):
        headers = self.old(user_tokens, keys_dir)
        assert (await users_client.get(ME, headers=headers)).status_code == 200
        changed = await users_client.patch(ME, headers=headers, json={"nickname": "Old"})
        assert changed.status_code == 200
        verified = await auth_client.get(VERIFY, headers=headers)
        assert verified.headers["x-auth-scope"] == USER_SCOPE

    async def test_an_admins_old_token(self, users_client, admin_tokens, keys_dir):
        headers = self.old(admin_tokens, keys_dir)
        assert (await users_client.get("/api/v1/users", headers=headers)).status_code == 200


class TestAnotherAccount:
    """``/users/{id}`` asks ``profile:*`` of everyone; another's account needs ``users:*``."""

    async def test_read_needs_users_read(self, auth_client, users_client, admin, user):
        pair = (await password_grant(auth_client, admin["username"], scope="profile:read")).json()
        response = await users_client.get(f"/api/v1/users/{user['id']}", headers=bearer(pair))
        assert_insufficient_scope(response, "users:read")
        own = await users_client.get(f"/api/v1/users/{admin['id']}", headers=bearer(pair))
        assert own.status_code == 200

    async def test_write_needs_users_write(self, auth_client, users_client, admin, user):
        scope = "profile:write users:read"
        pair = (await password_grant(auth_client, admin["username"], scope=scope)).json()
        response = await users_client.patch(
            f"/api/v1/users/{user['id']}", headers=bearer(pair), json={"nickname": "x"}
        )
        assert_insufficient_scope(response, "users:write")

    async def test_a_plain_user_still_gets_404(self, users_client, auth_headers, admin):
        response = await users_client.get(f"/api/v1/users/{admin['id']}", headers=auth_headers)
        assert response.status_code == 404
