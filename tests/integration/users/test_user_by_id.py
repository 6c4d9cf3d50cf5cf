from __future__ import annotations

import uuid

import httpx

from tests.fixtures.apps import PASSWORD

USERS = "/api/v1/users"
VERIFY = "/api/v1/auth/verify"


class TestReadUser:
    async def test_user_reads_themselves(self, users_client: httpx.AsyncClient, user, auth_headers):
        response = await users_client.get(f"{USERS}/{user['id']}", headers=auth_headers)
        assert response.status_code == 200
        assert response.json()["username"] == "alice"

    async def test_other_user_is_404_like_a_missing_id(
        self, users_client: httpx.AsyncClient, auth_headers, other_user
    ):
        other = await users_client.get(f"{USERS}/{other_user['id']}", headers=auth_headers)
        missing = await users_client.get(f"{USERS}/{uuid.uuid4()}", headers=auth_headers)
        assert other.status_code == missing.status_code == 404
        assert other.json() == missing.json()
        assert other.json()["code"] == "user_not_found"

    async def test_admin_reads_anyone(self, users_client: httpx.AsyncClient, admin_headers, user):
        response = await users_client.get(f"{USERS}/{user['id']}", headers=admin_headers)
        assert response.status_code == 200
        assert response.json()["email"] == "alice@example.com"

    async def test_admin_gets_404_for_a_missing_id(
        self, users_client: httpx.AsyncClient, admin_headers
    ):
        response = await users_client.get(f"{USERS}/{uuid.uuid4()}", headers=admin_headers)
        assert response.status_code == 404
        assert response.json()["code"] == "user_not_found"

    async def test_malformed_id_is_422(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.get(f"{USERS}/not-a-uuid", headers=auth_headers)
        assert response.status_code == 422

    async def test_without_token_is_401(self, users_client: httpx.AsyncClient, user):
        response = await users_client.get(f"{USERS}/{user['id']}")
        assert response.status_code == 401


class TestUpdateUser:
    async def test_user_updates_themselves(
        self, users_client: httpx.AsyncClient, user, auth_headers
    ):
        response = await users_client.patch(
            f"{USERS}/{user['id']}", headers=auth_headers, json={"nickname": "Ally"}
        )
        assert response.status_code == 200
        assert response.json()["nickname"] == "Ally"

    async def test_other_user_is_404(
        self, users_client: httpx.AsyncClient, auth_headers, other_user
    ):
        response = await users_client.patch(
            f"{USERS}/{other_user['id']}", headers=auth_headers, json={"nickname": "pwned"}
        )
        assert response.status_code == 404
        assert response.json()["code"] == "user_not_found"

    async def test_admin_updates_anyone(self, users_client: httpx.AsyncClient, admin_headers, user):
        response = await users_client.patch(
            f"{USERS}/{user['id']}", headers=admin_headers, json={"last_name": "Liddell"}
        )
        assert response.status_code == 200
        assert response.json()["last_name"] == "Liddell"

    async def test_admin_gets_404_for_a_missing_id(
        self, users_client: httpx.AsyncClient, admin_headers
    ):
        response = await users_client.patch(
            f"{USERS}/{uuid.uuid4()}", headers=admin_headers, json={"nickname": "x"}
        )
        assert response.status_code == 404

    async def test_non_admin_setting_is_active_is_403_forbidden_field(
        self, users_client: httpx.AsyncClient, user, auth_headers
    ):
        response = await users_client.patch(
            f"{USERS}/{user['id']}",
            headers=auth_headers,
            json={"is_active": False, "is_admin": True},
        )
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == "forbidden_field"
        assert [e["field"] for e in body["errors"]] == ["is_active", "is_admin"]

    async def test_unknown_field_is_422(self, users_client: httpx.AsyncClient, user, admin_headers):
        response = await users_client.patch(
            f"{USERS}/{user['id']}", headers=admin_headers, json={"tokens_not_before": None}
        )
        assert response.status_code == 422

    async def test_taken_email_is_409(
        self, users_client: httpx.AsyncClient, user, admin_headers, other_user
    ):
        response = await users_client.patch(
            f"{USERS}/{user['id']}",
            headers=admin_headers,
            json={"email": "Bob@example.com", "current_password": PASSWORD},
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_an_admin_changing_an_email_gives_their_own_password(
        self, users_client: httpx.AsyncClient, user, admin_headers
    ):
        target = f"{USERS}/{user['id']}"
        without = await users_client.patch(
            target, headers=admin_headers, json={"email": "al@example.org"}
        )
        assert without.status_code == 403
        assert without.json()["code"] == "reauthentication_required"
        response = await users_client.patch(
            target,
            headers=admin_headers,
            json={"email": "al@example.org", "current_password": PASSWORD},
        )
        assert response.status_code == 200
        assert response.json()["email"] == "al@example.org"

    async def test_deactivation_revokes_every_session_at_once(
        self,
        users_client: httpx.AsyncClient,
        auth_client: httpx.AsyncClient,
        user,
        auth_headers,
        admin_headers,
        login,
    ):
        second = {"Authorization": f"Bearer {(await login('alice'))['access_token']}"}
        response = await users_client.patch(
            f"{USERS}/{user['id']}", headers=admin_headers, json={"is_active": False}
        )
        assert response.status_code == 200
        assert response.json()["is_active"] is False
        for headers in (auth_headers, second):
            rejected = await users_client.get(f"{USERS}/me", headers=headers)
            assert rejected.status_code == 401
            assert rejected.json()["code"] == "token_revoked"
            assert (await auth_client.get(VERIFY, headers=headers)).status_code == 401
        sessions = await auth_client.get("/api/v1/auth/sessions", headers=auth_headers)
        assert sessions.status_code == 401

    async def test_deactivated_user_cannot_log_in(
        self, users_client: httpx.AsyncClient, auth_client: httpx.AsyncClient, user, admin_headers
    ):
        await users_client.patch(
            f"{USERS}/{user['id']}", headers=admin_headers, json={"is_active": False}
        )
        response = await auth_client.post(
            "/api/v1/auth/login", json={"username": "alice", "password": user["password"]}
        )
        assert response.status_code == 401

    async def test_promotion_revokes_tokens_that_carry_the_old_roles(
        self, users_client: httpx.AsyncClient, user, auth_headers, admin_headers, login
    ):
        response = await users_client.patch(
            f"{USERS}/{user['id']}", headers=admin_headers, json={"is_admin": True}
        )
        assert response.status_code == 200
        assert response.json()["is_admin"] is True
        stale = await users_client.get(f"{USERS}/me", headers=auth_headers)
        assert stale.status_code == 401
        fresh = {"Authorization": f"Bearer {(await login('alice'))['access_token']}"}
        listing = await users_client.get(USERS, headers=fresh)
        assert listing.status_code == 200

    async def test_demotion_revokes_admin_tokens(
        self, users_client: httpx.AsyncClient, user, admin_headers, login
    ):
        await users_client.patch(
            f"{USERS}/{user['id']}", headers=admin_headers, json={"is_admin": True}
        )
        alice_admin = {"Authorization": f"Bearer {(await login('alice'))['access_token']}"}
        assert (await users_client.get(USERS, headers=alice_admin)).status_code == 200
        await users_client.patch(
            f"{USERS}/{user['id']}", headers=admin_headers, json={"is_admin": False}
        )
        assert (await users_client.get(USERS, headers=alice_admin)).status_code == 401

    async def test_unchanged_flags_do_not_revoke(
        self, users_client: httpx.AsyncClient, user, auth_headers, admin_headers
    ):
        response = await users_client.patch(
            f"{USERS}/{user['id']}",
            headers=admin_headers,
            json={"is_active": True, "is_admin": False},
        )
        assert response.status_code == 200
        assert (await users_client.get(f"{USERS}/me", headers=auth_headers)).status_code == 200

    async def test_admin_cannot_deactivate_themselves(
        self, users_client: httpx.AsyncClient, admin, admin_headers
    ):
        response = await users_client.patch(
            f"{USERS}/{admin['id']}", headers=admin_headers, json={"is_active": False}
        )
        assert response.status_code == 403
        assert response.json()["code"] == "self_lockout"
